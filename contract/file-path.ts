/** The rule for a file path in a job (relative to /box): one rule, used by the API, the worker and the sandbox. */

const MAX_PATH_DEPTH = 8;
const MAX_PATH_LENGTH = 255;

/** Why a file path is unacceptable, or undefined when it is fine. */
export function filePathProblem(path: string): string | undefined {
  if (path.length === 0 || path.length > MAX_PATH_LENGTH) return `file path must be 1 to ${MAX_PATH_LENGTH} characters`;
  if (path.startsWith('/')) return `file path ${JSON.stringify(path)} must be relative to /box`;
  if (path.includes('\0')) return 'file path contains a NUL byte';
  const parts = path.split('/');
  if (parts.length > MAX_PATH_DEPTH) return `file path ${JSON.stringify(path)} is nested deeper than ${MAX_PATH_DEPTH}`;
  if (parts.some((part) => part === '' || part === '.' || part === '..')) {
    return `file path ${JSON.stringify(path)} has an empty, "." or ".." component`;
  }
  return undefined;
}
