/**
 * Artifacts: the files a job hands back (test reports, coverage), named by
 * glob patterns relative to /box, read after the job's last run, kept with
 * the job for its retention time. The patterns' rule, their matcher and the
 * caps are here: the API checks the patterns, the worker matches with them.
 */
import { z } from 'zod';
import { filePathProblem } from './file-path.js';

export const ARTIFACT_CAPS = {
  /** Patterns in one request. */
  maxPatterns: 32,
  /** Files kept per job; matches past it are reported, not kept. */
  maxFiles: 100,
  /** Bytes of all kept files together (they live in Redis with the job). */
  maxBytes: 16 * 1024 * 1024,
  /** Entries of /box looked at while matching (a job controls how many there are). */
  maxEntriesWalked: 100_000,
  /** Deepest directory looked into. */
  maxDepth: 32,
} as const;

/** Why an artifact pattern is unacceptable: a file path's rule, with `*`, `?` and `**` allowed in its segments. */
export function artifactPatternProblem(pattern: string): string | undefined {
  const problem = filePathProblem(pattern);
  if (problem) return problem.replace(/^file path/, 'artifact pattern');
  if (/[[\]{}\\]/.test(pattern)) return `artifact pattern ${JSON.stringify(pattern)}: only *, ? and ** are wildcards ([, ], {, } and \\ are not allowed)`;
  if (pattern.split('/').some((part) => part.includes('**') && part !== '**')) return `artifact pattern ${JSON.stringify(pattern)}: ** must be a whole path segment`;
  return undefined;
}

export const artifactPatternsSchema = z
  .array(
    z.string().superRefine((pattern, ctx) => {
      const problem = artifactPatternProblem(pattern);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  )
  .min(1, 'artifacts must not be empty')
  .max(ARTIFACT_CAPS.maxPatterns, `at most ${ARTIFACT_CAPS.maxPatterns} artifact patterns`);

export const artifactSchema = z.object({ path: z.string(), size_bytes: z.number().int() }).meta({ id: 'Artifact' });
export const rejectedArtifactSchema = z
  .object({ path: z.string(), kind: z.string().describe('symlink, fifo, socket, character device, block device, hard link, name, unopenable, cap'), reason: z.string() })
  .meta({ id: 'RejectedArtifact' });
export const artifactListSchema = z.object({ artifacts: z.array(artifactSchema), rejected: z.array(rejectedArtifactSchema) }).meta({ id: 'ArtifactList' });
export type Artifact = z.infer<typeof artifactSchema>;
export type RejectedArtifact = z.infer<typeof rejectedArtifactSchema>;

const segmentRegex = (segment: string) => new RegExp(`^${segment.replace(/[.+^$()|]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);

/** Matches "/"-separated paths against patterns: `*` and `?` within a segment, `**` any number of segments. */
export class ArtifactMatcher {
  private readonly patterns: (RegExp | '**')[][];

  constructor(patterns: string[]) {
    this.patterns = patterns.map((pattern) => pattern.split('/').map((segment) => (segment === '**' ? '**' : segmentRegex(segment))));
  }

  /** Whether a file at `path` is an artifact. */
  matches(path: string): boolean {
    const parts = path.split('/');
    return this.patterns.some((pattern) => matchSegments(pattern, 0, parts, 0));
  }

  /** Whether a directory at `path` may hold an artifact: the walk skips the others. */
  mayContain(path: string): boolean {
    const parts = path.split('/');
    return this.patterns.some((pattern) => {
      for (let i = 0; i < parts.length; i++) {
        const segment = pattern[i];
        if (segment === undefined) return false;
        if (segment === '**') return true;
        if (!segment.test(parts[i])) return false;
      }
      return parts.length < pattern.length;
    });
  }
}

function matchSegments(pattern: (RegExp | '**')[], p: number, parts: string[], i: number): boolean {
  if (p === pattern.length) return i === parts.length;
  const segment = pattern[p];
  if (segment === '**') {
    // Zero or more segments.
    for (let skip = i; skip <= parts.length; skip++) if (matchSegments(pattern, p + 1, parts, skip)) return true;
    return false;
  }
  return i < parts.length && segment.test(parts[i]) && matchSegments(pattern, p + 1, parts, i + 1);
}
