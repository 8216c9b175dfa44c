/**
 * Piston v2's interactive WebSocket, /api/v2/connect: the client sends
 * `init` (an execute request; its stdin is ignored), then `data` (stdin) and
 * `signal` messages; the server sends `runtime`, `stage`, `data` (stdout,
 * stderr), `exit` and `error`, and closes with Piston's codes (4000-4005,
 * 4999 when the job is done). The job is a runcell job with interactive
 * stdin: stdin goes through Redis to the worker (queue/stdin.ts), output
 * comes back as the job's live `output` events.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { DEFAULT_BOUNDS } from '../../contract/job-request.js';
import type { JobEvent } from '../../contract/events.js';
import type { LimitRanges } from '../../contract/limits.js';
import { STDIN_CAPS } from '../../contract/stdin.js';
import { findLanguage } from '../../rootfs/languages.js';
import { isTerminal } from '../../queue/events.js';
import type { JobQueue } from '../../queue/queue.js';
import { StdinWriter } from '../../queue/stdin.js';
import { jobChecker, type JobChecker } from '../jobs.js';
import { installedLanguages, submitOne } from '../run-to-end.js';
import { pistonStage, translateExecute, type PistonStage } from './execute.js';
import { installedRuntimes } from './runtimes.js';

export const CONNECT_PATH = '/api/v2/connect';

/** Piston's close codes (api/src/api/v2.js). */
export const CLOSE = {
  alreadyInitialized: [4000, 'Already Initialized'],
  initializationTimeout: [4001, 'Initialization Timeout'],
  notifiedError: [4002, 'Notified Error'],
  notYetInitialized: [4003, 'Not yet Initialized'],
  onlyStdin: [4004, 'Can only write to stdin'],
  invalidSignal: [4005, 'Invalid signal'],
  jobCompleted: [4999, 'Job Completed'],
} as const satisfies Record<string, readonly [number, string]>;

/** Piston's globals.SIGNALS: the names a `signal` message may carry. */
export const PISTON_SIGNALS = [
  'SIGABRT', 'SIGALRM', 'SIGBUS', 'SIGCHLD', 'SIGCLD', 'SIGCONT', 'SIGEMT', 'SIGFPE', 'SIGHUP', 'SIGILL', 'SIGINFO', 'SIGINT', 'SIGIO', 'SIGIOT', 'SIGKILL', 'SIGLOST', 'SIGPIPE', 'SIGPOLL', 'SIGPROF', 'SIGPWR', 'SIGQUIT', 'SIGSEGV', 'SIGSTKFLT', 'SIGSTOP', 'SIGTSTP', 'SIGSYS', 'SIGTERM', 'SIGTRAP', 'SIGTTIN', 'SIGTTOU', 'SIGUNUSED', 'SIGURG', 'SIGUSR1', 'SIGUSR2', 'SIGVTALRM', 'SIGXCPU', 'SIGXFSZ', 'SIGWINCH',
] as const;

/** Piston closes a socket that has not sent `init` within a second. */
const INIT_TIMEOUT_MS = 1000;

export interface PistonSocketOptions {
  queue: JobQueue;
  limits: LimitRanges;
  /** Default: the contract's checker under `limits` and the default bounds. */
  check?: JobChecker;
  /** When given, an upgrade must carry a key this accepts (Authorization: Bearer or X-Auth-Token, as every API request). */
  authorized?: (request: IncomingMessage) => boolean;
  log?: (error: unknown) => void;
}

/** Serves /api/v2/connect on `server`'s upgrades; answers 404 to an upgrade anywhere else. */
export function attachPistonWebSocket(server: Server, options: PistonSocketOptions): WebSocketServer {
  const sockets = new WebSocketServer({ noServer: true, maxPayload: STDIN_CAPS.writeBytes * 2 + 1024 * 1024 });
  const context: SessionContext = {
    queue: options.queue,
    limits: options.limits,
    check: options.check ?? jobChecker({ limits: options.limits, bounds: DEFAULT_BOUNDS }),
    installed: installedLanguages(options.queue),
    stdin: new StdinWriter(options.queue.redis),
    log: options.log ?? (() => {}),
  };
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(request.url ?? '/', 'http://runcell').pathname;
    if (path !== CONNECT_PATH) return refuseUpgrade(socket, 404, 'Not Found');
    if (options.authorized && !options.authorized(request)) return refuseUpgrade(socket, 401, 'Unauthorized');
    sockets.handleUpgrade(request, socket, head, (ws) => new PistonSession(ws, context).start());
  });
  // Closing the HTTP server ends these sockets' jobs too (their close handlers cancel them).
  server.on('close', () => {
    for (const ws of sockets.clients) ws.terminate();
    sockets.close();
  });
  return sockets;
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

interface SessionContext {
  queue: JobQueue;
  limits: LimitRanges;
  check: JobChecker;
  installed: () => Promise<Record<string, string> | undefined>;
  stdin: StdinWriter;
  log: (error: unknown) => void;
}

/** A message the client sent that Piston answers with `error` and 4002. */
class NotifiedError extends Error {}

class PistonSession {
  private jobId?: string;
  private initializing = false;
  private ended = false;
  /** Whether the language has a compile stage Piston would show (not runcell's syntax check). */
  private compiled = false;
  private stage?: 'compile' | 'run';
  private liveOutput = false;
  private signalled?: string;
  private unfollow?: () => void;
  /** Stdin writes, one after another: their order is the client's. */
  private writes: Promise<void> = Promise.resolve();
  private readonly initTimer: NodeJS.Timeout;

  constructor(
    private readonly ws: WebSocket,
    private readonly context: SessionContext,
  ) {
    this.initTimer = setTimeout(() => {
      if (!this.jobId && !this.initializing) this.close(CLOSE.initializationTimeout);
    }, INIT_TIMEOUT_MS);
  }

  start(): void {
    this.ws.on('message', (data: RawData) => void this.onMessage(data));
    this.ws.on('close', () => this.onClientGone());
    this.ws.on('error', (error: Error) => this.context.log(error));
  }

  private send(message: Record<string, unknown>): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message));
  }

  private close([code, reason]: readonly [number, string]): void {
    this.ended = true;
    clearTimeout(this.initTimer);
    this.unfollow?.();
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code, reason);
  }

  private notify(message: string): void {
    this.send({ type: 'error', message });
    this.close(CLOSE.notifiedError);
  }

  private async onMessage(data: RawData): Promise<void> {
    try {
      const message = JSON.parse(data.toString()) as Record<string, unknown>;
      switch (message?.type) {
        case 'init':
          if (this.jobId || this.initializing) return this.close(CLOSE.alreadyInitialized);
          return await this.init(message);
        case 'data':
          if (!this.jobId) return this.close(CLOSE.notYetInitialized);
          if (message.stream !== 'stdin') return this.close(CLOSE.onlyStdin);
          return this.writeStdin(message.data);
        case 'signal':
          if (!this.jobId) return this.close(CLOSE.notYetInitialized);
          if (!PISTON_SIGNALS.includes(message.signal as (typeof PISTON_SIGNALS)[number])) return this.close(CLOSE.invalidSignal);
          return await this.kill(message.signal as string);
        default:
          // Piston ignores messages of other types.
          return;
      }
    } catch (error) {
      if (!(error instanceof NotifiedError || error instanceof SyntaxError)) this.context.log(error);
      this.notify((error as Error).message);
    }
  }

  private async init(body: Record<string, unknown>): Promise<void> {
    this.initializing = true;
    const installed = await this.context.installed();
    const job = translateExecute(body, installedRuntimes(installed), this.context.limits);
    if ('message' in job) throw new NotifiedError(job.message);
    // The init's stdin is ignored (as Piston does): stdin is what `data` messages write.
    const { stdin: _ignored, ...request } = job.request;
    const checked = this.context.check({ ...request, interactive_stdin: true }, installed);
    if ('error' in checked) throw new NotifiedError(checked.error.message);
    const submitted = await submitOne(this.context.queue, checked.submission);
    if ('error' in submitted) throw new NotifiedError(submitted.message);
    this.jobId = submitted.id;
    this.compiled = findLanguage(job.runtime.id)?.compile !== undefined;
    this.send({ type: 'runtime', language: job.runtime.language, version: job.runtime.version });
    if (this.ended) return void this.context.queue.cancel(submitted.id).catch(this.context.log);
    this.unfollow = await this.context.queue.hub.follow(submitted.id, (event) => this.onEvent(event));
    if (this.ended) this.unfollow();
  }

  private writeStdin(data: unknown): void {
    const id = this.jobId!;
    const bytes = Buffer.from(typeof data === 'string' ? data : String(data ?? ''));
    this.writes = this.writes.then(async () => {
      if (this.ended) return;
      if (bytes.length > STDIN_CAPS.writeBytes) return this.notify(`a data message carries at most ${STDIN_CAPS.writeBytes} bytes`);
      const { outcome } = await this.context.stdin.write(id, bytes, false);
      // Once the job has ended its stdin is closed: what comes after goes nowhere, as under Piston.
      if (outcome === 'too_large') this.notify(`stdin takes at most ${STDIN_CAPS.totalBytes} bytes in all`);
      else if (outcome === 'rate') this.notify(`at most ${STDIN_CAPS.writesPerSecond} data messages a second`);
    }).catch((error: Error) => {
      this.context.log(error);
      this.notify(`cannot write stdin: ${error.message}`);
    });
  }

  /** runcell does not deliver signals to a job: any of Piston's signals stops it (a kill), reported as that signal. */
  private async kill(signal: string): Promise<void> {
    this.signalled ??= signal;
    await this.context.queue.cancel(this.jobId!);
  }

  private enter(stage: 'compile' | 'run'): void {
    if (this.stage === stage) return;
    this.stage = stage;
    this.send({ type: 'stage', stage });
  }

  private onEvent(event: JobEvent): void {
    if (this.ended) return;
    switch (event.type) {
      case 'started':
        return this.enter(this.compiled ? 'compile' : 'run');
      case 'compile_finished':
        // A compile that succeeded ends its stage here (its figures are in the job's result, read at the end).
        if (this.compiled && event.data.status === 'ok' && !event.data.checker) {
          this.enter('compile');
          this.send({ type: 'exit', stage: 'compile', code: 0, signal: null });
          this.enter('run');
        }
        return;
      case 'output':
        if (event.data.step !== undefined) return;
        this.enter('run');
        this.liveOutput = true;
        return this.send({ type: 'data', stream: event.data.stream, data: event.data.data });
      default:
        if (isTerminal(event)) void this.finish().catch((error: Error) => {
          this.context.log(error);
          this.notify(`runcell lost the job: ${error.message}`);
        });
    }
  }

  /** The job has ended: what the live events did not say, from its result; then 4999. */
  private async finish(): Promise<void> {
    const job = await this.context.queue.get(this.jobId!);
    const result = job?.result;
    if (!job || !result || (job.status === 'failed' && !result.run && !result.compile)) {
      return this.notify(`runcell job ${this.jobId} ${job?.status ?? 'vanished'}${job?.reason ? `: ${job.reason}` : ''}`);
    }
    if (this.compiled && result.compile && result.compile.status !== 'ok') {
      this.enter('compile');
      this.sendStage('compile', pistonStage(result.compile), true);
    } else {
      // An interpreted program that does not parse: runcell's syntax check failed, which Piston shows as the run failing.
      const run = result.run ?? result.compile;
      this.enter('run');
      if (run) this.sendStage('run', this.signalledStage(pistonStage(run)), !this.liveOutput || !result.run);
    }
    this.close(CLOSE.jobCompleted);
  }

  private sendStage(stage: 'compile' | 'run', outcome: PistonStage, withOutput: boolean): void {
    if (withOutput) {
      if (outcome.stdout) this.send({ type: 'data', stream: 'stdout', data: outcome.stdout });
      if (outcome.stderr) this.send({ type: 'data', stream: 'stderr', data: outcome.stderr });
    }
    this.send({ type: 'exit', stage, code: outcome.code, signal: outcome.signal });
  }

  /** A run stopped by a `signal` message: reported as killed by that signal, as Piston would. */
  private signalledStage(stage: PistonStage): PistonStage {
    return this.signalled && stage.code === null ? { ...stage, signal: this.signalled } : stage;
  }

  /** The client went away: its job has nobody to talk to, so it stops. */
  private onClientGone(): void {
    clearTimeout(this.initTimer);
    const unfinished = !this.ended && this.jobId;
    this.ended = true;
    this.unfollow?.();
    if (unfinished) void this.context.queue.cancel(this.jobId!).catch(this.context.log);
  }
}
