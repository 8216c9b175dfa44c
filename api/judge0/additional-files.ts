/**
 * Judge0's additional_files: a base64 zip, unpacked into the box beside the
 * source before the compile (Judge0 runs `unzip -n`: an entry never replaces
 * the source file). runcell reads it with the shared safe archive reader
 * (archive/: hostile input, caps on the bytes actually inflated, no
 * symlinks, no path outside) and passes its files on as the job's own files,
 * which the worker writes into /box as it writes every job file.
 */
import { isArchiveError, readArchiveToMemory } from '../../archive/index.js';
import type { SubmittedFile } from '../../contract/job-request.js';

/** Judge0's MAX_EXTRACT_SIZE: 10240 KB. */
export const MAX_EXTRACT_BYTES = 10_240 * 1024;

/** The zip's files as job files (directories are made for them), or why it is refused. */
export async function additionalFiles(base64: string, sourcePath: string, maxFiles: number): Promise<{ files: SubmittedFile[] } | { error: string }> {
  const zip = Buffer.from(base64, 'base64');
  if (zip.length === 0) return { error: 'is not a base64-encoded zip archive' };
  let entries;
  try {
    entries = await readArchiveToMemory({ buffer: zip }, { maxTotalBytes: MAX_EXTRACT_BYTES, maxEntryBytes: MAX_EXTRACT_BYTES, maxEntries: 10 * maxFiles, allowSymlinks: false });
  } catch (error) {
    if (isArchiveError(error)) return { error: `${error.code}${error.entry === undefined ? '' : ` (${error.entry})`}: ${error.message}` };
    throw error;
  }
  // `unzip -n`: the source file Judge0 wrote first is kept.
  const files = entries.filter((e) => e.kind === 'file' && e.path !== sourcePath).map((e) => ({ path: e.path, content: (e.data ?? Buffer.alloc(0)).toString('base64'), encoding: 'base64' as const }));
  if (files.length + 1 > maxFiles) return { error: `has ${files.length} files; at most ${maxFiles - 1} beside the source` };
  return { files };
}
