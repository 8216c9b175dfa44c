/**
 * A job's artifacts: after its last run, the regular files of /box that match
 * its patterns, read through safe-fs (a link, FIFO, socket or device in a
 * wanted place is reported, never followed nor read), within ARTIFACT_CAPS.
 */
import { ARTIFACT_CAPS, ArtifactMatcher, type Artifact, type RejectedArtifact } from '../contract/artifacts.js';
import { selectFilesBeneath, type TreeFile } from '../sandbox/safe-fs.js';
import type { Workspace } from '../sandbox/workspace.js';

export interface CollectedArtifacts {
  /** For the result: what was kept, and what was refused or left out, with why. */
  artifacts: Artifact[];
  artifacts_rejected: RejectedArtifact[];
  /** The kept files' contents, for the store. */
  files: TreeFile[];
}

export function collectArtifacts(workspace: Workspace, patterns: string[], caps = ARTIFACT_CAPS): CollectedArtifacts {
  const matcher = new ArtifactMatcher(patterns);
  const { files, rejected } = selectFilesBeneath(workspace.boxPath, {
    wants: (path) => matcher.matches(path),
    descend: (path) => matcher.mayContain(path),
    maxFiles: caps.maxFiles,
    maxBytes: caps.maxBytes,
    maxEntries: caps.maxEntriesWalked,
    maxDepth: caps.maxDepth,
  });
  return { artifacts: files.map((file) => ({ path: file.path, size_bytes: file.content.length })), artifacts_rejected: rejected, files };
}
