/**
 * Piston's interactive WebSocket, /api/v2/connect, driven by a real WebSocket
 * client (the `ws` package) against the API, a private Redis and a worker
 * running real sandboxes: the messages and close codes of Piston's protocol.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { serviceFixture } from './service-helpers.js';

const service = serviceFixture();

interface Session {
  ws: WebSocket;
  messages: Record<string, unknown>[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves with the first message (from the start) that `match` accepts. */
  next(match: (message: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  send(message: unknown): void;
}

async function connect(path = '/api/v2/connect'): Promise<Session> {
  const ws = new WebSocket(service.api.url.replace('http', 'ws') + path);
  const messages: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (data) => {
    messages.push(JSON.parse(data.toString()));
    for (const wake of waiters.splice(0)) wake();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const next = async (match: (message: Record<string, unknown>) => boolean, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = messages.find(match);
      if (found) return found;
      if (Date.now() > deadline || ws.readyState === WebSocket.CLOSED) throw new Error(`no such message; got ${JSON.stringify(messages)}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  };
  return { ws, messages, closed, next, send: (message) => ws.send(JSON.stringify(message)) };
}

const ECHO = 'import sys\nfor line in sys.stdin:\n    line = line.strip()\n    if line == "quit":\n        break\n    print(line.upper(), flush=True)\nprint("bye", file=sys.stderr)\n';
const withoutData = (messages: Record<string, unknown>[]) => messages.filter((m) => m.type !== 'data');
const output = (messages: Record<string, unknown>[], stream: string) => messages.filter((m) => m.type === 'data' && m.stream === stream).map((m) => m.data).join('');

describe("Piston's WebSocket /api/v2/connect", { timeout: 120_000 }, () => {
  it('an interactive Python program: runtime, stage, live output answering stdin, exit, 4999', async () => {
    const s = await connect();
    s.send({ type: 'init', language: 'python', version: '*', files: [{ content: ECHO }], stdin: 'ignored\n' });
    await s.next((m) => m.type === 'stage');
    s.send({ type: 'data', stream: 'stdin', data: 'hello\n' });
    // The answer arrives while the program runs (live output), before any more input is sent.
    await s.next((m) => m.type === 'data' && m.stream === 'stdout' && m.data === 'HELLO\n');
    s.send({ type: 'data', stream: 'stdin', data: 'again\nquit\n' });
    expect(await s.closed).toEqual({ code: 4999, reason: 'Job Completed' });
    const [runtime, ...rest] = withoutData(s.messages);
    expect(runtime).toMatchObject({ type: 'runtime', language: 'python', version: expect.stringMatching(/^3\./) });
    expect(rest).toEqual([{ type: 'stage', stage: 'run' }, { type: 'exit', stage: 'run', code: 0, signal: null }]);
    expect(output(s.messages, 'stdout')).toBe('HELLO\nAGAIN\n');
    expect(output(s.messages, 'stderr')).toBe('bye\n');
  });

  it('C: a compile stage and a run stage, each with its exit', async () => {
    const s = await connect();
    s.send({ type: 'init', language: 'c', version: '*', files: [{ content: '#include <stdio.h>\nint main(void) { int n; if (scanf("%d", &n) != 1) return 2; printf("%d\\n", n * n); return 0; }\n' }] });
    await s.next((m) => m.type === 'stage' && m.stage === 'run');
    s.send({ type: 'data', stream: 'stdin', data: '12\n' });
    expect((await s.closed).code).toBe(4999);
    expect(withoutData(s.messages).slice(1)).toEqual([
      { type: 'stage', stage: 'compile' },
      { type: 'exit', stage: 'compile', code: 0, signal: null },
      { type: 'stage', stage: 'run' },
      { type: 'exit', stage: 'run', code: 0, signal: null },
    ]);
    expect(output(s.messages, 'stdout')).toBe('144\n');
  });

  it('a failed compile: the compile stage with the compiler\'s message and its exit, no run stage', async () => {
    const s = await connect();
    s.send({ type: 'init', language: 'c', version: '*', files: [{ content: 'int main(void) { return nope; }\n' }] });
    expect((await s.closed).code).toBe(4999);
    expect(withoutData(s.messages).slice(1)).toEqual([{ type: 'stage', stage: 'compile' }, { type: 'exit', stage: 'compile', code: 1, signal: null }]);
    expect(output(s.messages, 'stderr')).toMatch(/nope/);
  });

  it('a signal stops the program: exit with that signal', async () => {
    const s = await connect();
    s.send({ type: 'init', language: 'python', version: '3', files: [{ content: 'import time\nprint("up", flush=True)\ntime.sleep(30)\n' }], run_timeout: 20_000 });
    await s.next((m) => m.type === 'data' && m.data === 'up\n');
    s.send({ type: 'signal', signal: 'SIGKILL' });
    expect((await s.closed).code).toBe(4999);
    expect(s.messages.at(-1)).toEqual({ type: 'exit', stage: 'run', code: null, signal: 'SIGKILL' });
  });

  it("Piston's close codes: 4001 without init within a second, 4003 before init, 4000 on a second init, 4004 for another stream, 4005 for an unknown signal", async () => {
    const idle = await connect();
    const started = Date.now();
    expect(await idle.closed).toEqual({ code: 4001, reason: 'Initialization Timeout' });
    expect(Date.now() - started).toBeLessThan(3000);

    const early = await connect();
    early.send({ type: 'data', stream: 'stdin', data: 'x' });
    expect(await early.closed).toEqual({ code: 4003, reason: 'Not yet Initialized' });
    const earlySignal = await connect();
    earlySignal.send({ type: 'signal', signal: 'SIGKILL' });
    expect((await earlySignal.closed).code).toBe(4003);

    const init = { type: 'init', language: 'python', version: '*', files: [{ content: 'import time\ntime.sleep(5)\n' }] };
    const twice = await connect();
    twice.send(init);
    await twice.next((m) => m.type === 'runtime');
    twice.send(init);
    expect(await twice.closed).toEqual({ code: 4000, reason: 'Already Initialized' });

    const stdout = await connect();
    stdout.send(init);
    await stdout.next((m) => m.type === 'runtime');
    stdout.send({ type: 'data', stream: 'stdout', data: 'x' });
    expect(await stdout.closed).toEqual({ code: 4004, reason: 'Can only write to stdin' });

    const badSignal = await connect();
    badSignal.send(init);
    await badSignal.next((m) => m.type === 'runtime');
    badSignal.send({ type: 'signal', signal: 'SIGNOPE' });
    expect(await badSignal.closed).toEqual({ code: 4005, reason: 'Invalid signal' });
  });

  it('an init Piston refuses, or a message that is not JSON: an error message, then 4002', async () => {
    const unknown = await connect();
    unknown.send({ type: 'init', language: 'cobol', version: '*', files: [{ content: 'x' }] });
    expect(await unknown.closed).toEqual({ code: 4002, reason: 'Notified Error' });
    expect(unknown.messages).toEqual([{ type: 'error', message: 'cobol-* runtime is unknown' }]);

    const garbage = await connect();
    garbage.ws.send('{not json');
    expect((await garbage.closed).code).toBe(4002);
    expect(garbage.messages[0]).toMatchObject({ type: 'error', message: expect.any(String) });
  });

  it('refuses an upgrade anywhere else', async () => {
    await expect(connect('/api/v2/elsewhere')).rejects.toThrow(/404/);
  });
});
