/**
 * The worker's end of interactive stdin: a pipe whose read end is the
 * program's stdin (RunSpec.stdinFd) and whose write end is fed from the job's
 * stdin stream in Redis (queue/stdin.ts). Closed at the writer's eof, or when
 * the run ends (close()).
 */
import { closeSync, fchownSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Cluster, Redis } from 'ioredis';
import type { RedisTarget } from '../queue/connection.js';
import { StdinReader } from '../queue/stdin.js';
import { pipe } from '../sandbox/libc.js';
import type { Slot } from '../sandbox/slots.js';

export interface InteractiveStdin {
  /** The pipe's read end, for RunSpec.stdinFd. */
  fd: number;
  /** Stops the feed and closes both ends (call when the run has ended). */
  close(): Promise<void>;
}

export interface StdinPipeOptions {
  redis: RedisTarget;
  /** The worker's own connection, for the stream's removal at the end. */
  commands: Redis | Cluster;
  jobId: string;
  slot: Slot;
  logger: { warn(object: object, message?: string): void };
}

export function openInteractiveStdin(options: StdinPipeOptions): InteractiveStdin {
  const { jobId, logger } = options;
  const ends = pipe();
  // The program reopens /dev/stdin as its slot uid (as it can a file stdin): the pipe is its.
  fchownSync(ends.read, options.slot.uid, options.slot.gid);
  // A libuv pipe: non-blocking writes, buffered while the program does not read (bounded by STDIN_CAPS.totalBytes).
  const writer = new Socket({ fd: ends.write, readable: false, writable: true });
  // EPIPE when the program exits (or closes stdin) with writes pending: nothing to do but stop feeding it.
  writer.on('error', (error: Error) => logger.warn({ job: jobId, err: error.message }, 'interactive stdin: the program stopped reading'));
  const reader = new StdinReader(options.redis, jobId, options.commands, logger);
  const writable = () => new Promise<void>((resolve) => {
    writer.once('drain', resolve);
    writer.once('close', resolve);
  });
  const feeding = reader
    .run({
      write: (chunk) => (writer.destroyed || writer.write(chunk) ? undefined : writable()),
      end: () => writer.end(),
    })
    .catch((error: Error) => logger.warn({ job: jobId, err: error.message }, 'interactive stdin: reading the stream failed; the program gets end of file'))
    .finally(() => writer.end());
  let closing: Promise<void> | undefined;
  return {
    fd: ends.read,
    close() {
      closing ??= (async () => {
        await reader.stop();
        writer.destroy();
        await feeding;
        closeSync(ends.read);
      })();
      return closing;
    },
  };
}
