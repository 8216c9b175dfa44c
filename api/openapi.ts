/**
 * The OpenAPI 3.1 document, generated from the same zod schemas that
 * validate requests (served at GET /openapi.json).
 */
import { z } from 'zod';
import type { LimitTable } from '../sandbox/limits.js';
import {
  acceptedSchema,
  batchResponseSchema,
  batchSchema,
  errorSchema,
  eventSchema,
  jobSchema,
  jobViewSchema,
  languageSchema,
  runResultSchema,
  compileResultSchema,
  testResultSchema,
  jobResultSchema,
  type RequestBounds,
} from './schemas.js';

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const json = (schema: object) => ({ 'application/json': { schema } });
const error = (description: string) => ({ description, content: json(ref('Error')) });

export function buildOpenApi(limits: LimitTable, bounds: RequestBounds): Record<string, unknown> {
  const registry = z.registry<{ id: string }>();
  registry.add(jobSchema(limits, bounds), { id: 'JobRequest' });
  registry.add(batchSchema(bounds), { id: 'BatchRequest' });
  for (const [schema, id] of [
    [errorSchema, 'Error'],
    [runResultSchema, 'RunResult'],
    [compileResultSchema, 'CompileResult'],
    [testResultSchema, 'TestResult'],
    [jobResultSchema, 'JobResult'],
    [jobViewSchema, 'Job'],
    [acceptedSchema, 'Accepted'],
    [batchResponseSchema, 'BatchResponse'],
    [languageSchema, 'Language'],
    [eventSchema, 'Event'],
  ] as const) {
    registry.add(schema, { id });
  }
  const { schemas } = z.toJSONSchema(registry, { uri: (id) => `#/components/schemas/${id}`, io: 'input', unrepresentable: 'any' });
  for (const schema of Object.values(schemas)) {
    delete (schema as Record<string, unknown>).$schema;
    delete (schema as Record<string, unknown>).$id;
  }

  const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
  const common = { '401': error('missing or wrong API key'), '429': error('rate limited'), '503': error('Redis is not reachable') };
  return {
    openapi: '3.1.0',
    info: {
      title: 'runcell',
      version: '0.1.0',
      description: 'Sandboxed code execution: submit a program or a command, get its output, exit status and resource use.',
    },
    components: {
      schemas,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'needed when RUNCELL_API_KEYS is set' } },
    },
    security: [{ bearer: [] }, {}],
    paths: {
      '/v1/jobs': {
        post: {
          summary: 'Submit a job',
          parameters: [
            { name: 'wait', in: 'query', required: false, description: 'seconds (0-60) to hold the request until the job finishes', schema: { type: 'integer', minimum: 0, maximum: 60 } },
          ],
          requestBody: { required: true, content: json(ref('JobRequest')) },
          responses: {
            '200': { description: 'finished within ?wait', content: json(ref('Job')) },
            '202': { description: 'queued', content: json(ref('Accepted')) },
            '400': error('malformed JSON'),
            '413': error('body too large'),
            '415': error('not JSON'),
            '422': error('invalid values'),
            ...common,
          },
        },
      },
      '/v1/jobs/batch': {
        post: {
          summary: 'Submit up to 100 jobs, each validated on its own',
          requestBody: { required: true, content: json(ref('BatchRequest')) },
          responses: {
            '202': { description: 'at least one job queued; per-item results in order', content: json(ref('BatchResponse')) },
            '422': { description: 'no job valid, or the batch itself invalid', content: json(ref('BatchResponse')) },
            '400': error('malformed JSON'),
            '413': error('body too large'),
            ...common,
          },
        },
      },
      '/v1/jobs/{id}': {
        get: { summary: 'A job, with its result when finished', parameters: [idParam], responses: { '200': { description: 'the job', content: json(ref('Job')) }, '404': error('no such job'), ...common } },
        delete: {
          summary: 'Cancel a queued job, or kill a running one',
          parameters: [idParam],
          responses: {
            '200': { description: 'cancelled', content: json(ref('Job')) },
            '202': { description: 'kill requested, not yet confirmed', content: json(ref('Job')) },
            '404': error('no such job'),
            '409': error('already finished'),
            ...common,
          },
        },
      },
      '/v1/jobs/{id}/events': {
        get: {
          summary: 'Server-Sent Events of a job: queued, started, compile_finished, run_finished, completed | cancelled | failed; past events are replayed first',
          parameters: [idParam, { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' } }],
          responses: {
            '200': { description: 'an event stream; each data line is an Event', content: { 'text/event-stream': { schema: ref('Event') } } },
            '404': error('no such job'),
            ...common,
          },
        },
      },
      '/v1/languages': {
        get: {
          summary: 'Languages the workers offer, with versions',
          responses: {
            '200': { description: 'languages', content: json({ type: 'object', properties: { languages: { type: 'array', items: ref('Language') } }, required: ['languages'] }) },
            ...common,
          },
        },
      },
      '/healthz': { get: { summary: 'The process is alive', security: [], responses: { '200': { description: 'alive' } } } },
      '/readyz': { get: { summary: 'Redis reachable and a worker seen recently', responses: { '200': { description: 'ready' }, '503': error('not ready, with the reason') } } },
      '/openapi.json': { get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } } },
      '/metrics': { get: { summary: 'Prometheus metrics (catalogue: docs/metrics.md)', responses: { '200': { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
    },
  };
}
