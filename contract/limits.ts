/**
 * The names of a run's limits and the shape of requested limits. The values
 * (defaults, maxima) are server configuration (sandbox/limits.ts and the
 * environment): the schema takes them as an argument.
 */
import { z } from 'zod';

export const LIMIT_NAMES = ['cpu_ms', 'wall_ms', 'memory_bytes', 'pids', 'output_bytes', 'file_size_bytes', 'workspace_bytes'] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

/** What the request rules need of the server's limit table: each limit's range and its default. */
export type LimitRanges = Record<LimitName, { min: number; max: number; default: number }>;

function buildRequestedLimitsSchema(ranges: LimitRanges) {
  const shape = {} as Record<LimitName, z.ZodOptional<z.ZodNumber>>;
  for (const name of LIMIT_NAMES) {
    const { min, max } = ranges[name];
    shape[name] = z.number().int(`${name} must be an integer`).min(min, `${name} must be at least ${min}`).max(max, `${name} must be at most ${max}`).optional();
  }
  return z.strictObject(shape);
}

const schemas = new WeakMap<LimitRanges, ReturnType<typeof buildRequestedLimitsSchema>>();

/** Requested limits: every field optional, each within [min, max] of `ranges`. */
export function requestedLimitsSchema(ranges: LimitRanges) {
  // Building a zod schema costs more than a sandbox's cgroup set-up: once per table.
  let schema = schemas.get(ranges);
  if (!schema) schemas.set(ranges, (schema = buildRequestedLimitsSchema(ranges)));
  return schema;
}

export type RequestedLimits = Partial<Record<LimitName, number>>;
