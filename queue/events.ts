/**
 * EventHub: one Redis subscription per process, fanned out to the local
 * listeners of each job (SSE clients, ?wait requests). A listener first gets
 * what already happened (replayed from the job's stream), then what happens
 * next, each event once and in order.
 */
import type { Cluster, Redis } from 'ioredis';
import type { JobEvent } from '../contract/events.js';
import { keys, parseAnnouncement, TERMINAL, type JobStore } from './store.js';

export type EventListener = (event: JobEvent) => void;

/** Stream ids are "<ms>-<seq>": compare them as numbers, not strings. */
export function streamIdAfter(a: string, b: string): boolean {
  const [aMs, aSeq] = a.split('-').map(Number);
  const [bMs, bSeq] = b.split('-').map(Number);
  return aMs > bMs || (aMs === bMs && aSeq > bSeq);
}

export function isTerminal(event: JobEvent): boolean {
  return (TERMINAL as string[]).includes(event.type);
}

export class EventHub {
  private readonly listeners = new Map<string, Set<EventListener>>();
  /** Pending waitForEnd calls, ended at once by close() so that shutdown does not wait for their timers. */
  private readonly waiters = new Set<() => void>();
  private started?: Promise<void>;

  constructor(
    private readonly subscriber: Redis | Cluster,
    private readonly store: JobStore,
    logger: { warn(object: object, message?: string): void } = { warn() {} },
  ) {
    // A lost connection is retried by ioredis and resubscribed; waiters time out meanwhile. Without a
    // listener ioredis prints "Unhandled error event" for every retry.
    subscriber.on('error', (error: Error) => logger.warn({ err: error.message }, 'event subscriber connection error'));
  }

  private start(): Promise<void> {
    this.started ??= (async () => {
      this.subscriber.on('message', (_channel: string, message: string) => {
        const event = parseAnnouncement(message);
        if (!event) return;
        for (const listener of this.listeners.get(event.job_id) ?? []) listener(event);
      });
      await this.subscriber.subscribe(keys.eventsChannel);
    })();
    return this.started;
  }

  /**
   * Calls `listener` with every event of the job after `afterId` ('-' = all),
   * past and future, in order and once each. Returns an unsubscribe function.
   */
  async follow(jobId: string, listener: EventListener, afterId = '-'): Promise<() => void> {
    await this.start();
    let last = afterId;
    const pending: JobEvent[] = [];
    let replaying = true;
    const deliver = (event: JobEvent) => {
      if (last !== '-' && !streamIdAfter(event.id, last)) return;
      last = event.id;
      listener(event);
    };
    const live: EventListener = (event) => (replaying ? pending.push(event) : deliver(event));
    // Subscribe before reading the history, so that nothing falls between the two.
    let set = this.listeners.get(jobId);
    if (!set) this.listeners.set(jobId, (set = new Set()));
    set.add(live);
    const unsubscribe = () => {
      set!.delete(live);
      if (set!.size === 0) this.listeners.delete(jobId);
    };
    try {
      for (const event of await this.store.events(jobId, afterId)) deliver(event);
    } catch (error) {
      unsubscribe();
      throw error;
    }
    replaying = false;
    for (const event of pending.splice(0)) deliver(event);
    return unsubscribe;
  }

  /** Resolves with the terminal event, or undefined after `timeoutMs`. */
  async waitForEnd(jobId: string, timeoutMs: number): Promise<JobEvent | undefined> {
    let resolveEnd!: (event?: JobEvent) => void;
    const ended = new Promise<JobEvent | undefined>((resolve) => (resolveEnd = resolve));
    const off = await this.follow(jobId, (event) => {
      if (isTerminal(event)) resolveEnd(event);
    });
    const timer = setTimeout(() => resolveEnd(undefined), timeoutMs);
    const giveUp = () => resolveEnd(undefined);
    this.waiters.add(giveUp);
    try {
      return await ended;
    } finally {
      clearTimeout(timer);
      this.waiters.delete(giveUp);
      off();
    }
  }

  async close(): Promise<void> {
    for (const giveUp of [...this.waiters]) giveUp();
    this.listeners.clear();
    this.subscriber.disconnect();
  }
}
