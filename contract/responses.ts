/** The API's other response bodies. */
import { z } from 'zod';
import { errorBodySchema } from './error-body.js';

export const acceptedSchema = z.object({ id: z.string(), status: z.literal('queued') }).meta({ id: 'Accepted' });

export const batchResponseSchema = z.object({ jobs: z.array(z.union([acceptedSchema, errorBodySchema])) }).meta({ id: 'BatchResponse' });

export const languageSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    version: z.string().nullable().describe('read from the toolchain when the rootfs was built'),
    compiled: z.boolean(),
    default_file: z.string().describe('the usual name of the entry file (for Java it names the class that is run)'),
  })
  .meta({ id: 'Language' });
export type LanguageInfo = z.infer<typeof languageSchema>;

export const languagesResponseSchema = z.object({ languages: z.array(languageSchema) }).meta({ id: 'Languages' });
export const healthSchema = z.object({ status: z.literal('ok') }).meta({ id: 'Health' });
export const readySchema = z
  .object({
    status: z.literal('ready'),
    workers: z.number().int(),
    pools: z.record(z.string(), z.number().int()).optional().describe('with worker pools (RUNCELL_POOLS): the live workers of each pool jobs are routed to'),
  })
  .meta({ id: 'Ready' });
