/**
 * A running job's progress events (output, run_finished, test_finished...), held a few milliseconds and
 * sent together: one Redis round trip for a burst of events instead of one each, and none at all for those
 * still held when the job ends, which go with its finish (the store's FINISH script emits them before the
 * terminal event). Every event of a job goes through here, so that their order is kept.
 */
import type { ProgressEvent } from '../queue/store.js';

/** Long enough to gather a step's last output with its run_finished; short for a live reader. */
export const HOLD_MS = 20;

export class PendingEvents {
  private pending: ProgressEvent[] = [];
  private timer?: NodeJS.Timeout;

  constructor(private readonly send: (events: ProgressEvent[]) => void) {}

  push(event: ProgressEvent): void {
    this.pending.push(event);
    this.timer ??= setTimeout(() => this.flush(), HOLD_MS);
  }

  /** Sends what is held now. */
  flush(): void {
    const events = this.take();
    if (events.length > 0) this.send(events);
  }

  /** What is held, for the finish to record; nothing is sent. */
  take(): ProgressEvent[] {
    clearTimeout(this.timer);
    this.timer = undefined;
    return this.pending.splice(0);
  }
}
