/** What a starting service has started so far, and how to stop it: shared by service.ts and worker-role.ts. */
import type { Logger } from 'pino';
import type { RuncellMetrics } from '../monitoring/metrics.js';

export type Stop = () => Promise<void>;

export interface Started {
  logger: Logger;
  metrics?: RuncellMetrics;
  /** In the order they must stop: the API, then the worker. */
  stops: Stop[];
  /** Then, even when one of those hung: the embedded Redis, then the claim on the host. */
  finals: Stop[];
}
