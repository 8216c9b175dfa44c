/**
 * The OpenAPI 3.1 document, generated from the contract's schemas: requests
 * and responses alike (served at GET /openapi.json; `npm run openapi`
 * writes docs/openapi.json).
 */
import { z } from 'zod';
import { artifactListSchema, artifactSchema, rejectedArtifactSchema } from './artifacts.js';
import { errorBodySchema } from './error-body.js';
import { eventSchema } from './events.js';
import { batchRequestSchema, jobRequestSchema, type RequestBounds, type RequestRules } from './job-request.js';
import { jobRecordSchema, jobResultSchema, requestSummarySchema } from './job-record.js';
import { testResultSchema, transcriptEntrySchema, verdictCountsSchema } from './judged-result.js';
import { acceptedSchema, batchResponseSchema, healthSchema, languageSchema, languagesResponseSchema, readySchema } from './responses.js';
import { compileResultSchema, runResultSchema, stepResultSchema } from './run-result.js';
import { imageListSchema, imageSchema } from './image.js';
import { problemListSchema, problemManifestSchema, problemSummarySchema } from './problem.js';
import { STDIN_CAPS, stdinWriteSchema, stdinWrittenSchema } from './stdin.js';

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const json = (schema: object) => ({ 'application/json': { schema } });
const error = (description: string) => ({ description, content: json(ref('Error')) });

function componentSchemas(rules: RequestRules, bounds: RequestBounds): Record<string, unknown> {
  const registry = z.registry<{ id: string }>();
  registry.add(jobRequestSchema({ ...rules, bounds }), { id: 'JobRequest' });
  registry.add(batchRequestSchema(bounds), { id: 'BatchRequest' });
  for (const [schema, id] of [
    [errorBodySchema, 'Error'],
    [runResultSchema, 'RunResult'],
    [compileResultSchema, 'CompileResult'],
    [stepResultSchema, 'StepResult'],
    [testResultSchema, 'TestResult'],
    [transcriptEntrySchema, 'TranscriptEntry'],
    [verdictCountsSchema, 'VerdictCounts'],
    [jobResultSchema, 'JobResult'],
    [requestSummarySchema, 'RequestSummary'],
    [jobRecordSchema, 'Job'],
    [acceptedSchema, 'Accepted'],
    [batchResponseSchema, 'BatchResponse'],
    [languageSchema, 'Language'],
    [languagesResponseSchema, 'Languages'],
    [healthSchema, 'Health'],
    [readySchema, 'Ready'],
    [eventSchema, 'Event'],
    [stdinWriteSchema, 'StdinWrite'],
    [stdinWrittenSchema, 'StdinWritten'],
    [problemManifestSchema, 'Problem'],
    [problemSummarySchema, 'ProblemSummary'],
    [problemListSchema, 'ProblemList'],
    [artifactListSchema, 'ArtifactList'],
    [artifactSchema, 'Artifact'],
    [rejectedArtifactSchema, 'RejectedArtifact'],
    [imageSchema, 'Image'],
    [imageListSchema, 'ImageList'],
  ] as const) {
    registry.add(schema, { id });
  }
  // Responses are described as the server writes them (output); requests as clients may send them (input).
  const output = z.toJSONSchema(registry, { uri: (id) => `#/components/schemas/${id}`, io: 'output', unrepresentable: 'any' }).schemas;
  const input = z.toJSONSchema(registry, { uri: (id) => `#/components/schemas/${id}`, io: 'input', unrepresentable: 'any' }).schemas;
  const schemas: Record<string, unknown> = { ...output, JobRequest: input.JobRequest, BatchRequest: input.BatchRequest, StdinWrite: input.StdinWrite };
  for (const schema of Object.values(schemas)) {
    delete (schema as Record<string, unknown>).$schema;
    delete (schema as Record<string, unknown>).$id;
  }
  return schemas;
}

const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const common = { '401': error('missing or wrong API key'), '429': error('rate limited (code rate_limited)'), '503': error('Redis is not reachable (code unavailable)') };
const bodyErrors = {
  '400': error('malformed JSON (malformed_json), an unreadable body (bad_request), or a request aborted by the client (aborted)'),
  '413': error('body too large, or the tests too large (payload_too_large)'),
  '415': error('not JSON (unsupported_media_type)'),
};

function jobPaths() {
  return {
    '/v1/jobs': {
      post: {
        summary: 'Submit a job',
        parameters: [{ name: 'wait', in: 'query', required: false, description: 'seconds (0-60) to hold the request until the job finishes', schema: { type: 'integer', minimum: 0, maximum: 60 } }],
        requestBody: { required: true, content: json(ref('JobRequest')) },
        responses: {
          '200': { description: 'finished within ?wait', content: json(ref('Job')) },
          '202': { description: 'queued', content: json(ref('Accepted')) },
          ...bodyErrors,
          '422': error('invalid values (invalid_request)'),
          ...common,
          '429': error('rate limited (rate_limited), or the queue is full (queue_full)'),
        },
      },
    },
    '/v1/jobs/batch': {
      post: {
        summary: 'Submit up to 100 jobs, each validated on its own',
        requestBody: { required: true, content: json(ref('BatchRequest')) },
        responses: {
          '202': { description: 'at least one job queued; per-item results in order', content: json(ref('BatchResponse')) },
          '422': { description: 'no job valid (per-item errors), or the batch itself invalid (an Error)', content: json({ oneOf: [ref('BatchResponse'), ref('Error')] }) },
          ...bodyErrors,
          ...common,
          '429': error('rate limited (rate_limited), or the queue is full (queue_full)'),
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
          '409': error('already finished (conflict)'),
          ...common,
        },
      },
    },
    '/v1/jobs/{id}/stdin': {
      post: {
        summary: `Write to the stdin of a job submitted with interactive_stdin (carried to its worker through Redis); at most ${STDIN_CAPS.totalBytes} bytes in all and ${STDIN_CAPS.writesPerSecond} writes a second`,
        parameters: [idParam],
        requestBody: { required: true, content: json(ref('StdinWrite')) },
        responses: {
          '202': { description: 'queued for the job\'s stdin (the program reads it once its run has started)', content: json(ref('StdinWritten')) },
          ...bodyErrors,
          '404': error('no such job'),
          '409': error('the job has ended, its stdin is closed, or it was not submitted with interactive_stdin (conflict)'),
          '413': error(`over ${STDIN_CAPS.writeBytes} bytes in one write, or over ${STDIN_CAPS.totalBytes} in all (payload_too_large)`),
          '422': error('invalid values (invalid_request)'),
          ...common,
          '429': error('rate limited (rate_limited), also for too many writes a second to this job'),
        },
      },
    },
    '/v1/jobs/{id}/events': {
      get: {
        summary: 'Server-Sent Events of a job: queued, started, output (live stdout and stderr), compile_finished, run_finished, step_finished, test_finished, completed | cancelled | failed; past events are replayed first',
        parameters: [idParam, { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' } }],
        responses: {
          '200': { description: 'an event stream; each data line is an Event (an `error` event carries an Error)', content: { 'text/event-stream': { schema: ref('Event') } } },
          '404': error('no such job'),
          ...common,
        },
      },
    },
    '/v1/jobs/{id}/artifacts': {
      get: {
        summary: "A finished job's artifacts: the files kept and the matching entries refused",
        parameters: [idParam],
        responses: {
          '200': { description: 'the lists', content: json(ref('ArtifactList')) },
          '404': error('no such job'),
          '409': error('the job has not ended (conflict)'),
          ...common,
        },
      },
    },
    '/v1/jobs/{id}/artifacts/{path}': {
      get: {
        summary: 'One artifact, as bytes (path is the artifact path, slashes included)',
        parameters: [idParam, { name: 'path', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '200': { description: 'the content', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
          '404': error('no such job or no such artifact'),
          ...common,
        },
      },
    },
    '/v1/jobs/{id}/artifacts.tar': {
      get: {
        summary: 'Every artifact of a finished job in one POSIX tar',
        parameters: [idParam],
        responses: {
          '200': { description: 'a tar', content: { 'application/x-tar': { schema: { type: 'string', format: 'binary' } } } },
          '404': error('no such job'),
          ...common,
        },
      },
    },
    '/v1/jobs/{id}/log': {
      get: {
        summary: "The job's live output (its output events) as plain text, stdout and stderr interleaved; follow=1 keeps the response open until the job ends",
        parameters: [idParam, { name: 'follow', in: 'query', required: false, schema: { type: 'string', enum: ['1', '0', 'true', 'false'] } }],
        responses: {
          '200': { description: 'the output so far (or, with follow=1, until the job ends)', content: { 'text/plain': { schema: { type: 'string' } } } },
          '404': error('no such job'),
          '422': error('follow is not 1 or 0'),
          ...common,
        },
      },
    },
  };
}

const problemIdParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$' } };
const packageBody = {
  required: true,
  description: 'an ICPC/Kattis problem package as a zip, tar or tar.gz (the format is read from its bytes): problem.yaml, data/sample and data/secret (.in/.ans), output_validators/, input_validators/; at the root or in one top folder',
  content: { 'application/zip': { schema: { type: 'string', format: 'binary' } }, 'application/x-tar': { schema: { type: 'string', format: 'binary' } }, 'application/gzip': { schema: { type: 'string', format: 'binary' } } },
};
const packageErrors = {
  '409': error('POST: the id is taken; PUT: a later package of the same problem was stored meanwhile (conflict)'),
  '413': error('the package is larger than RUNCELL_PROBLEM_MAX_BYTES (payload_too_large)'),
  '415': error('a JSON or multipart body instead of the package (unsupported_media_type)'),
  '422': error('the archive or the package refused (invalid_request); details[].path names the entry: archive/<entry> (code: bad_path, duplicate_entry, forbidden_type, ...) or package/<path>'),
};

function problemPaths() {
  return {
    '/v1/problems': {
      get: { summary: 'Stored problems', responses: { '200': { description: 'every problem, its current revision', content: json(ref('ProblemList')) }, ...common } },
      post: {
        summary: 'Store a problem package under a new id (validating while input validators run, then ready or rejected)',
        parameters: [{ name: 'id', in: 'query', required: false, description: 'the problem id (default: generated)', schema: problemIdParam.schema }],
        requestBody: packageBody,
        responses: { '201': { description: 'stored', content: json(ref('Problem')) }, ...packageErrors, ...common },
      },
    },
    '/v1/problems/{id}': {
      get: { summary: "A problem's current revision", parameters: [problemIdParam], responses: { '200': { description: 'the problem', content: json(ref('Problem')) }, '404': error('no such problem'), ...common } },
      put: {
        summary: 'Store a package as the next revision of a problem (created when absent); the previous revision and its unshared data go',
        parameters: [problemIdParam],
        requestBody: packageBody,
        responses: { '200': { description: 'replaced', content: json(ref('Problem')) }, '201': { description: 'created', content: json(ref('Problem')) }, ...packageErrors, ...common },
      },
      delete: { summary: 'Delete a problem (its data nobody else refers to is deleted)', parameters: [problemIdParam], responses: { '200': { description: 'deleted: what it was', content: json(ref('ProblemSummary')) }, '404': error('no such problem'), ...common } },
    },
  };
}

const imageNameParam = { name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$' } };

function imagePaths() {
  return {
    '/v1/images': {
      get: { summary: "The asking client's images (its API key's)", responses: { '200': { description: 'its images', content: json(ref('ImageList')) }, ...common } },
      post: {
        summary: 'Upload an image (OCI image layout archive or docker/podman save output): imported beside the API when a worker shares its host (201), else published for the workers to import when a job names it (202)',
        parameters: [{ name: 'name', in: 'query', required: false, description: "the image's name (default: the archive's; required where no worker shares the API's host)", schema: imageNameParam.schema }],
        requestBody: { required: true, content: { 'application/x-tar': { schema: { type: 'string', format: 'binary' } } } },
        responses: {
          '201': { description: 'imported and published: the import report, archive_sha256, size_bytes', content: json({ type: 'object' }) },
          '202': { description: 'published, not imported yet', content: json({ type: 'object' }) },
          '400': error('no name where one is needed, or a bad name (bad_request)'),
          '409': error('another client has an image of this name (conflict)'),
          '413': error('the archive is larger than the cap (payload_too_large), or the client\'s images would pass RUNCELL_IMAGE_QUOTA_BYTES or RUNCELL_IMAGE_QUOTA_COUNT (quota_exceeded; details[].path quota.bytes or quota.count); nothing is stored'),
          '422': error('the image was refused (invalid_request); details[].path names the entry'),
          ...common,
        },
      },
    },
    '/v1/images/{name}': {
      get: { summary: 'One of the client\'s images', parameters: [imageNameParam], responses: { '200': { description: 'the image', content: json(ref('Image')) }, '404': error("no such image of this client's (another client's answers 404 too)"), ...common } },
      delete: { summary: 'Delete one of the client\'s images (its archive is released; workers refuse jobs naming it from then on and drop their copies at their sweep)', parameters: [imageNameParam], responses: { '200': { description: 'deleted: what it was', content: json(ref('Image')) }, '404': error("no such image of this client's"), ...common } },
    },
  };
}

function servicePaths() {
  return {
    '/v1/languages': { get: { summary: 'Languages the workers offer, with versions', responses: { '200': { description: 'languages', content: json(ref('Languages')) }, ...common } } },
    '/healthz': { get: { summary: 'The process is alive', security: [], responses: { '200': { description: 'alive', content: json(ref('Health')) } } } },
    '/readyz': { get: { summary: 'Redis reachable and a worker seen recently', responses: { '200': { description: 'ready', content: json(ref('Ready')) }, '401': common['401'], '429': common['429'], '503': error('not ready, with the reason') } } },
    '/openapi.json': { get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1', content: json({ type: 'object' }) }, '401': common['401'], '429': common['429'] } } },
    '/metrics': { get: { summary: 'Prometheus metrics (catalogue: docs/metrics.md)', responses: { '200': { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } }, '401': common['401'], '429': common['429'] } } },
  };
}

export function buildOpenApi(rules: RequestRules, bounds: RequestBounds): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: 'runcell', version: '0.1.0', description: 'Sandboxed code execution: submit a program or a command, get its output, exit status and resource use.' },
    components: {
      schemas: componentSchemas(rules, bounds),
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'needed when RUNCELL_API_KEYS is set' } },
    },
    security: [{ bearer: [] }, {}],
    paths: { ...jobPaths(), ...problemPaths(), ...imagePaths(), ...servicePaths() },
  };
}
