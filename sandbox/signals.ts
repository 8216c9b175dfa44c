/**
 * Signal numbers -> names. Its own module so that process.ts (which names the
 * launcher's end) need not import accounting.ts, which imports process.ts.
 */
import { constants } from 'node:os';

/** Number -> name; the first name wins (SIGABRT, not its alias SIGIOT). */
const SIGNAL_NAMES = new Map<number, string>();
for (const [name, number] of Object.entries(constants.signals)) if (!SIGNAL_NAMES.has(number)) SIGNAL_NAMES.set(number, name);

export function signalName(signal: number): string {
  return SIGNAL_NAMES.get(signal) ?? `SIG${signal}`;
}
