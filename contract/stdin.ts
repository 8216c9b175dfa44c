/**
 * Interactive stdin: a job submitted with `interactive_stdin: true` reads a
 * pipe that stays open while it runs; clients write to it with
 * POST /v1/jobs/:id/stdin (or Piston's WebSocket), carried through Redis to
 * the worker running the job. The caps are policy: here, in one place.
 */
import { z } from 'zod';

export const STDIN_CAPS = {
  /** Bytes one write may carry (decoded). */
  writeBytes: 64 * 1024,
  /** Bytes a job's stdin may receive in all. */
  totalBytes: 1024 * 1024,
  /** Writes a job's stdin accepts in one second; more are refused with 429. */
  writesPerSecond: 50,
} as const;

export const stdinWriteSchema = z
  .strictObject({
    data: z.string().default('').describe(`bytes to write (at most ${STDIN_CAPS.writeBytes} once decoded)`),
    encoding: z.enum(['utf8', 'base64']).default('utf8'),
    eof: z.boolean().default(false).describe("close the job's stdin after this write: the program reads end of file"),
  })
  .meta({ id: 'StdinWrite' });
export type StdinWrite = z.output<typeof stdinWriteSchema>;

export const stdinWrittenSchema = z
  .object({
    written_bytes: z.number().int().describe('bytes of this write'),
    total_bytes: z.number().int().describe("bytes the job's stdin has received so far"),
    eof: z.boolean().describe('whether stdin is now closed'),
  })
  .meta({ id: 'StdinWritten' });
export type StdinWritten = z.infer<typeof stdinWrittenSchema>;
