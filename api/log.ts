/**
 * GET /v1/jobs/:id/log: the job's live output (its `output` events) as plain
 * text, stdout and stderr interleaved as they arrived. With ?follow=1 the
 * response stays open and grows until the job ends, for a terminal
 * (`curl -N .../log?follow=1`); without, it is what has arrived so far.
 */
import type { Request, Response } from 'express';
import type { JobEvent } from '../contract/events.js';
import { isTerminal } from '../queue/events.js';
import type { JobQueue } from '../queue/queue.js';
import { ApiError } from './errors.js';

function parseFollow(req: Request): boolean {
  const raw = req.query.follow;
  if (raw === undefined || raw === '0' || raw === 'false') return false;
  if (raw === '1' || raw === 'true') return true;
  throw new ApiError(422, 'invalid_request', 'follow must be 1 or 0', [{ path: 'follow', message: 'expected 1, 0, true or false' }]);
}

/** The text an event adds to the log: its output, and a notice where the live output was capped. */
function logText(event: JobEvent): string {
  if (event.type !== 'output') return '';
  const notice = event.data.capped ? '\n[runcell: live output capped here; the job result has the rest]\n' : '';
  return event.data.data + notice;
}

export async function streamLog(queue: JobQueue, req: Request, res: Response): Promise<void> {
  const id = req.params.id as string;
  const follow = parseFollow(req);
  if (!follow) {
    const events = await queue.store.events(id);
    res.type('text/plain; charset=utf-8').send(events.map(logText).join(''));
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no' });
  let ended = false;
  let off: (() => void) | undefined;
  const finish = () => {
    if (ended) return;
    ended = true;
    off?.();
    res.end();
  };
  req.on('close', finish);
  try {
    off = await queue.hub.follow(id, (event) => {
      if (ended) return;
      const text = logText(event);
      if (text) res.write(text);
      if (isTerminal(event)) setImmediate(finish);
    });
    if (ended) off();
  } catch (error) {
    // Headers are sent: say it in the text, where the reader looks.
    res.write(`\n[runcell: the log stream broke: ${(error as Error).message}]\n`);
    finish();
  }
}
