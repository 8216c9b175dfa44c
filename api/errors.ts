/**
 * API errors: one JSON shape (contract/error-body.ts), a status code that
 * says whose fault it is, and never a stack trace.
 */
import type { NextFunction, Request, Response } from 'express';
import type { ZodError } from 'zod';
import type { ApiErrorCode, ErrorBody, ErrorDetail } from '../contract/error-body.js';
import { isRedisUnavailable } from '../queue/connection.js';

export type { ErrorDetail };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
  ) {
    super(message);
  }
}

export function detailsOf(error: ZodError, prefix = ''): ErrorDetail[] {
  return error.issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter((part) => part !== '').join('.');
    const message = issue.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : issue.message;
    return { path: path || '(body)', message };
  });
}

export function invalid(error: ZodError, prefix = ''): ApiError {
  const details = detailsOf(error, prefix);
  const summary = details.map((d) => `${d.path}: ${d.message}`).join('; ');
  return new ApiError(422, 'invalid_request', summary, details);
}

export function errorBody(error: ApiError): ErrorBody {
  return { error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) } };
}

export const unavailable = () => new ApiError(503, 'unavailable', 'the queue (Redis) is not reachable; try again shortly');

/** What body-parser (express.json) tells about a body it refused: its `type` field, a code of its own. */
function bodyError(error: unknown): ApiError | undefined {
  const type = (error as { type?: string }).type;
  if (type === 'entity.parse.failed') return new ApiError(400, 'malformed_json', `the body is not valid JSON: ${(error as Error).message}`);
  if (type === 'entity.too.large') return new ApiError(413, 'payload_too_large', `the body is larger than ${(error as { limit?: number }).limit} bytes`);
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') return new ApiError(415, 'unsupported_media_type', (error as Error).message);
  if (type === 'request.aborted') return new ApiError(400, 'aborted', 'the request was aborted');
  return undefined;
}

/**
 * Maps whatever was thrown to an ApiError. `redisReady`: whether the queue's
 * connection is up; when it is not, a failed command is Redis's absence
 * (ioredis gives such refusals no class of their own).
 */
export function toApiError(error: unknown, redisReady = true): ApiError {
  if (error instanceof ApiError) return error;
  const refused = bodyError(error);
  if (refused) return refused;
  // Other client errors that express names (found by fuzzing: they used to be 500s): a body that is not
  // the gzip its Content-Encoding says, a path that is not valid percent-encoding (/v1/jobs/%ZZ).
  const status = (error as { status?: unknown }).status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    if (error instanceof URIError) return new ApiError(status, 'bad_request', `the path is not valid percent-encoding: ${error.message}`);
    if ((error as { expose?: unknown }).expose === true) return new ApiError(status, 'bad_request', `the body could not be read: ${(error as Error).message}`);
  }
  if (!redisReady || isRedisUnavailable(error)) return unavailable();
  return new ApiError(500, 'internal', 'internal error');
}

export function errorHandler(log: (error: unknown) => void, redisReady: () => boolean) {
  return (error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    const apiError = toApiError(error, redisReady());
    if (apiError.status >= 500 && apiError.code === 'internal') log(error);
    res.status(apiError.status).json(errorBody(apiError));
  };
}
