/**
 * `runcell judge --problem DIR --file F`: judges a program against a problem
 * package unpacked in a directory, locally, the way a worker judges a stored
 * problem (same manifest reading, same request: worker/problem-jobs.ts), with
 * the package's own files read in place instead of from a cache. Interactive
 * packages too; the input validators run first (cli/main.ts), as at upload.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import type { JobSubmission } from '../contract/job-request.js';
import type { LimitRanges } from '../contract/limits.js';
import { EXTENSION_LANGUAGES, readProblemPackage, type PackageFile } from '../contract/problem-package.js';
import type { ProblemManifest } from '../contract/problem.js';

export class ProblemDirError extends Error {}

const RELEVANT = /^(data\/(sample|secret)\/.+\.(in|ans)|output_validators\/.+|input_validators\/.+)$/;

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Regular files under `dir` (symlinks and anything else are skipped: the package is read as it is laid out). */
function walk(dir: string, root = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return walk(path, root);
    return entry.isFile() ? [relative(root, path)] : [];
  });
}

/** The package in `dir` as a manifest, and where each of its files is. */
export async function readProblemDir(dir: string, ranges: LimitRanges): Promise<{ manifest: ProblemManifest; pathOf: (sha: string) => string }> {
  let yamlText: string;
  try {
    yamlText = readFileSync(join(dir, 'problem.yaml'), 'utf8');
  } catch (error) {
    throw new ProblemDirError(`cannot read ${join(dir, 'problem.yaml')}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const { parse } = await import('yaml');
  let timelimit: string | undefined;
  try {
    timelimit = readFileSync(join(dir, '.timelimit'), 'utf8');
  } catch {
    /* optional */
  }
  const paths = new Map<string, string>();
  const files: PackageFile[] = [];
  for (const path of walk(dir).filter((p) => RELEVANT.test(p))) {
    const full = join(dir, path);
    const sha256 = await sha256Of(full);
    paths.set(sha256, full);
    files.push({ path, sha256, size: readFileSync(full).length, executable: false });
  }
  const reading = readProblemPackage(files, parse(yamlText), timelimit, ranges, basename(dir));
  if (!reading.manifest) throw new ProblemDirError(reading.issues.map((issue) => `${issue.path}: ${issue.message}`).join('; '));
  const manifest: ProblemManifest = { ...reading.manifest, id: 'local', revision: 1, status: 'ready', created_at: new Date().toISOString() };
  return { manifest, pathOf: (sha) => paths.get(sha)! };
}

/** The submission of `runcell judge`: the language given, else the first file's extension. */
export function localSubmission(files: string[], lang: string | undefined): JobSubmission {
  if (files.length === 0) throw new ProblemDirError('give the program with --file (repeatable; the first is the entry point)');
  const language = lang ?? EXTENSION_LANGUAGES[/\.([^./]+)$/.exec(files[0])?.[1] ?? ''];
  if (!language) throw new ProblemDirError(`cannot tell the language of ${files[0]}: give --lang`);
  return { language, files: files.map((path) => ({ path: basename(path), content: readFileSync(path).toString('base64'), encoding: 'base64' as const })), stdin_encoding: 'utf8', problem: 'local' } as JobSubmission;
}
