/**
 * POST /v1/jobs/:id/stdin: writes to the stdin of a job submitted with
 * interactive_stdin, through Redis to whichever worker runs it (queue/stdin.ts).
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { STDIN_CAPS, stdinWriteSchema, type StdinWritten } from '../contract/stdin.js';
import type { JobQueue } from '../queue/queue.js';
import { StdinWriter, type StdinOutcome } from '../queue/stdin.js';
import { ApiError, invalid } from './errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Why a write was refused, as the API says it (shared with Piston's WebSocket). */
export function stdinRefusal(outcome: Exclude<StdinOutcome, 'ok'>, id: string): ApiError {
  switch (outcome) {
    case 'missing':
      return new ApiError(404, 'not_found', `no job ${JSON.stringify(id)} (it may have expired)`);
    case 'finished':
      return new ApiError(409, 'conflict', 'the job has ended: its stdin is closed');
    case 'not_interactive':
      return new ApiError(409, 'conflict', 'the job was not submitted with interactive_stdin: its stdin cannot be written');
    case 'closed':
      return new ApiError(409, 'conflict', "the job's stdin was closed (a write said eof)");
    case 'too_large':
      return new ApiError(413, 'payload_too_large', `a job's stdin takes at most ${STDIN_CAPS.totalBytes} bytes in all`, [{ path: 'data', message: `over ${STDIN_CAPS.totalBytes} bytes in all` }]);
    case 'rate':
      return new ApiError(429, 'rate_limited', `at most ${STDIN_CAPS.writesPerSecond} writes a second to one job's stdin`);
  }
}

/** Decodes and checks one write; throws the API's error for a bad one. */
export function decodeStdinWrite(body: unknown): { data: Buffer; eof: boolean } {
  const parsed = stdinWriteSchema.safeParse(body);
  if (!parsed.success) throw invalid(parsed.error);
  const data = Buffer.from(parsed.data.data, parsed.data.encoding === 'base64' ? 'base64' : 'utf8');
  if (data.length > STDIN_CAPS.writeBytes) {
    const message = `one write carries at most ${STDIN_CAPS.writeBytes} bytes; this one has ${data.length}`;
    throw new ApiError(413, 'payload_too_large', message, [{ path: 'data', message }]);
  }
  return { data, eof: parsed.data.eof };
}

export function stdinRoutes(queue: JobQueue, needsQueue: (req: Request, res: Response, next: NextFunction) => void): express.Router {
  const writer = new StdinWriter(queue.redis);
  const router = express.Router();
  router.post('/v1/jobs/:id/stdin', needsQueue, async (req, res) => {
    if (!req.is('application/json')) throw new ApiError(415, 'unsupported_media_type', 'send the body as JSON with Content-Type: application/json');
    const id = req.params.id as string;
    const { data, eof } = decodeStdinWrite(req.body);
    const written = UUID.test(id) ? await writer.write(id, data, eof) : { outcome: 'missing' as const, totalBytes: 0 };
    if (written.outcome !== 'ok') throw stdinRefusal(written.outcome, id);
    res.status(202).json({ written_bytes: data.length, total_bytes: written.totalBytes, eof } satisfies StdinWritten);
  });
  return router;
}
