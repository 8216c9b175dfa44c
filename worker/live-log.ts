/**
 * A job's live output: the sandbox's stdout and stderr chunks, coalesced into
 * `output` events (contract/events.ts) at most every FLUSH_MS, each at most
 * MAX_EVENT_BYTES, and no more than MAX_JOB_BYTES for the whole job. Every
 * event lands in the job's Redis stream (replayed to late readers, expired
 * with the job), so the limits bound what one job can write there.
 */
import type { OutputEventData } from '../contract/events.js';

/** Output is sent at most this often per job (rate cap: about 2 events per interval, one per stream). */
export const LIVE_FLUSH_MS = 100;
/** The most bytes of one output event. */
export const LIVE_MAX_EVENT_BYTES = 64 * 1024;
/** The most live output bytes of one job, all steps and both streams; past it only the result has the output. */
export const LIVE_MAX_JOB_BYTES = 4 * 1024 * 1024;

type Stream = 'stdout' | 'stderr';

export interface LiveLogOptions {
  /** Sends one output event (not awaited: the caller's connection keeps them in order). */
  emit: (data: OutputEventData) => void;
  flushMs?: number;
  maxEventBytes?: number;
  maxJobBytes?: number;
}

interface Pending {
  chunks: Buffer[];
  bytes: number;
  /** Offset in the stream of the first pending byte. */
  offset: number;
}

export class LiveLog {
  private readonly pending: Record<Stream, Pending> = { stdout: emptyPending(), stderr: emptyPending() };
  private step: number | undefined;
  private sent = 0;
  private capped = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly flushMs: number;
  private readonly maxEventBytes: number;
  private readonly maxJobBytes: number;

  constructor(private readonly options: LiveLogOptions) {
    this.flushMs = options.flushMs ?? LIVE_FLUSH_MS;
    this.maxEventBytes = options.maxEventBytes ?? LIVE_MAX_EVENT_BYTES;
    this.maxJobBytes = options.maxJobBytes ?? LIVE_MAX_JOB_BYTES;
  }

  /** A new run starts (offsets start at 0 again); `step` is its index in a job with steps. */
  startRun(step?: number): void {
    this.endRun();
    this.step = step;
    this.pending.stdout = emptyPending();
    this.pending.stderr = emptyPending();
  }

  /** The sandbox's onOutput, with the step the run is (a new step starts a new run). */
  push(stream: Stream, chunk: Buffer, step?: number): void {
    if (this.capped || chunk.length === 0) return;
    if (step !== this.step) this.startRun(step);
    const pending = this.pending[stream];
    pending.chunks.push(chunk);
    pending.bytes += chunk.length;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flush(false);
    }, this.flushMs);
  }

  /** Sends everything pending, the incomplete last character too: call when a run ends, before its result's event. */
  endRun(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flush(true);
  }

  private flush(final: boolean): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      // Within a run, one event per stream per flush (the rate cap); at its end, all that is pending.
      do this.send(stream, final);
      while (final && this.pending[stream].bytes > 0 && !this.capped);
    }
    // More than an unfinished character left (more than one event's worth came in one interval): next interval.
    const more = this.pending.stdout.bytes > 3 || this.pending.stderr.bytes > 3;
    if (more && !this.capped && !final) this.timer ??= setTimeout(() => ((this.timer = undefined), this.flush(false)), this.flushMs);
  }

  private send(stream: Stream, final: boolean): void {
    const pending = this.pending[stream];
    if (pending.bytes === 0 || this.capped) return;
    const all = Buffer.concat(pending.chunks, pending.bytes);
    const room = this.maxJobBytes - this.sent;
    let take = Math.min(all.length, this.maxEventBytes, room);
    const reachesCap = take === room;
    // A character is never split between events, unless the run (or the cap) ends there.
    if (take < all.length || !final) {
      const cut = completeUtf8Length(all.subarray(0, take));
      if (cut > 0 || !(final || reachesCap)) take = cut;
    }
    if (take === 0) return;
    const rest = all.subarray(take);
    pending.chunks = rest.length > 0 ? [rest] : [];
    pending.bytes = rest.length;
    const offset = pending.offset;
    pending.offset += take;
    this.sent += take;
    if (this.sent >= this.maxJobBytes) this.capped = true;
    const step = this.step === undefined ? {} : { step: this.step };
    this.options.emit({ stream, offset, data: all.subarray(0, take).toString('utf8'), ...step, ...(this.capped ? { capped: true as const } : {}) });
  }
}

function emptyPending(): Pending {
  return { chunks: [], bytes: 0, offset: 0 };
}

/** The length of the longest prefix of `bytes` that does not end inside a UTF-8 sequence. */
export function completeUtf8Length(bytes: Buffer): number {
  const n = bytes.length;
  for (let back = 1; back <= Math.min(4, n); back++) {
    const byte = bytes[n - back];
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back for its lead
    const needs = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return needs > back ? n - back : n;
  }
  return n;
}
