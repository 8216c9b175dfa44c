/** The body of every API error: {"error": {"code", "message", "details"?}}. */
import { z } from 'zod';

export const API_ERROR_CODES = [
  'malformed_json',
  'bad_request',
  /** The client closed the connection before the body was read. */
  'aborted',
  'payload_too_large',
  'unsupported_media_type',
  'invalid_request',
  'unauthorized',
  'not_found',
  'conflict',
  /** A client's stored images would pass its quota (RUNCELL_IMAGE_QUOTA_BYTES, RUNCELL_IMAGE_QUOTA_COUNT). */
  'quota_exceeded',
  'queue_full',
  'rate_limited',
  'unavailable',
  'internal',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

export const errorDetailSchema = z.object({ path: z.string(), message: z.string() });
export type ErrorDetail = z.infer<typeof errorDetailSchema>;

export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.enum(API_ERROR_CODES).describe('machine-readable; see docs/api.md'),
      message: z.string(),
      details: z.array(errorDetailSchema).optional(),
    }),
  })
  .meta({ id: 'Error' });
export type ErrorBody = z.infer<typeof errorBodySchema>;
