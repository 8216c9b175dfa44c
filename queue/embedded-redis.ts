/**
 * EmbeddedRedis: a private redis-server (Debian package redis-server) for
 * `runcell serve` when REDIS_URL is unset. It listens only on a unix socket
 * in the data directory (mode 0700, root's; no TCP port), persists with an
 * append-only file, and stops with runcell (after everything else: it runs in
 * a session of its own, out of reach of signals to runcell's process group).
 * A server left running by a runcell that was killed is reused rather than
 * duplicated.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface EmbeddedRedisOptions {
  /** Directory for the socket, the append-only file and the log. */
  dir: string;
  /** Default /usr/bin/redis-server. */
  binary?: string;
  /** How long to wait for the server to answer. Default 10 s. */
  startTimeoutMs?: number;
}

export class EmbeddedRedis {
  readonly socket: string;
  private child?: ChildProcess;
  private readonly binary: string;

  constructor(private readonly options: EmbeddedRedisOptions) {
    this.socket = join(options.dir, 'redis.sock');
    this.binary = options.binary ?? '/usr/bin/redis-server';
  }

  get url(): string {
    return `unix://${this.socket}`;
  }

  /** Starts the server (or adopts one already answering on the socket). */
  async start(): Promise<void> {
    if (await this.answers()) return;
    if (!existsSync(this.binary)) throw new Error(`${this.binary} not found: apt-get install redis-server, or set REDIS_URL`);
    mkdirSync(this.options.dir, { recursive: true, mode: 0o700 });
    const args = [
      '--port', '0',
      '--unixsocket', this.socket,
      '--unixsocketperm', '700',
      '--dir', this.options.dir,
      '--appendonly', 'yes',
      '--appendfsync', 'everysec',
      '--save', '',
      // BullMQ must never have its keys evicted.
      '--maxmemory-policy', 'noeviction',
      '--logfile', join(this.options.dir, 'redis.log'),
      '--daemonize', 'no',
    ];
    // A session of its own: a signal to runcell's process group (a terminal's Ctrl-C, systemd's stop)
    // must not reach it, or runcell could not hand its running jobs back to the queue; runcell stops it last.
    this.child = spawn(this.binary, args, { stdio: 'ignore', detached: true });
    const exited = new Promise<never>((_, reject) =>
      this.child!.once('exit', (code) => reject(new Error(`redis-server exited with ${code}; see ${join(this.options.dir, 'redis.log')}`))),
    );
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 10_000);
    const ready = (async () => {
      while (Date.now() < deadline) {
        if (await this.answers()) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`redis-server did not answer on ${this.socket} in time`);
    })();
    await Promise.race([ready, exited]);
  }

  private async answers(): Promise<boolean> {
    if (!existsSync(this.socket)) return false;
    const client = new Redis({ path: this.socket, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
    // A probe: its failure is its answer (connect() rejects with the same error), nothing to log.
    client.on('error', () => undefined);
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  }

  /** Stops the server we started (SHUTDOWN writes the append-only file out). */
  async stop(): Promise<void> {
    const child = this.child;
    // Gone already (killed from outside, say): a signal ends a process with exitCode null, signalCode set.
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    this.child = undefined;
  }
}
