/**
 * The root filesystem: built with mmdebstrap from rootfs/manifest.json into
 * <dataDir>/rootfs/<hash of the manifest and recipe>. A marker file written
 * last says the image is complete; an image without it is never used.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JOB_GID, JOB_UID } from '../sandbox/namespaces.js';
import { ROOTFS_MOUNT_POINTS } from '../sandbox/mount.js';
import { LANGUAGES } from './languages.js';

export interface RootfsManifest {
  suite: string;
  variant: string;
  architecture: string;
  sources: string[];
  packages: string[];
}

export const MANIFEST_PATH = join(dirname(fileURLToPath(import.meta.url)), 'manifest.json');
export const MARKER = '.runcell-rootfs.json';
/** Bump when the build recipe below changes in a way the manifest does not show. */
const RECIPE_VERSION = 2;

/** Shell run by mmdebstrap in the finished tree ($1): mount points and the job's user. */
function customizeHook(): string {
  const dirs = ROOTFS_MOUNT_POINTS.map((dir) => `"$1${dir}"`).join(' ');
  return [
    `mkdir -p ${dirs}`,
    'chmod 1777 "$1/tmp"',
    `echo 'runner:x:${JOB_UID}:${JOB_GID}:runcell job:/tmp:/bin/bash' >> "$1/etc/passwd"`,
    `echo 'runner:x:${JOB_GID}:' >> "$1/etc/group"`,
  ].join(' && ');
}

/** Keeps the image small: no documentation, manuals or translations. */
const DPKG_OPTIONS = [
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
];

export function readManifest(path = MANIFEST_PATH): RootfsManifest {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const { suite, variant, architecture, sources, packages } = raw as unknown as RootfsManifest;
  if (typeof suite !== 'string' || !Array.isArray(sources) || !Array.isArray(packages) || packages.length === 0) {
    throw new Error(`${path}: needs suite, sources and a non-empty packages list`);
  }
  return { suite, variant: variant ?? 'minbase', architecture: architecture ?? 'amd64', sources, packages: [...packages].sort() };
}

export function manifestHash(manifest: RootfsManifest): string {
  const recipe = { manifest, recipe: RECIPE_VERSION, hook: customizeHook(), dpkg: DPKG_OPTIONS };
  return createHash('sha256').update(JSON.stringify(recipe)).digest('hex').slice(0, 16);
}

export interface RootfsLocation {
  hash: string;
  path: string;
}

export function rootfsLocation(dataDir: string, manifest = readManifest()): RootfsLocation {
  const hash = manifestHash(manifest);
  return { hash, path: join(dataDir, 'rootfs', hash) };
}

/** Why the image at `location` is not usable, or undefined when it is. */
export function rootfsProblem(location: RootfsLocation): string | undefined {
  if (!existsSync(location.path)) return `no rootfs at ${location.path}: run \`runcell rootfs build\``;
  try {
    const marker = JSON.parse(readFileSync(join(location.path, MARKER), 'utf8')) as { hash?: string };
    if (marker.hash !== location.hash) return `the rootfs at ${location.path} was built from another manifest`;
  } catch {
    return `the rootfs at ${location.path} is incomplete (no ${MARKER}): rebuild it with \`runcell rootfs build\``;
  }
  for (const dir of ROOTFS_MOUNT_POINTS) {
    if (!existsSync(join(location.path, dir))) return `the rootfs at ${location.path} lacks the mount point ${dir}`;
  }
  return undefined;
}

/** The verified rootfs path; throws with what to do when there is none. */
export function verifiedRootfs(dataDir: string): string {
  const location = rootfsLocation(dataDir);
  const problem = rootfsProblem(location);
  if (problem) throw new Error(problem);
  return location.path;
}

export interface BuildOptions {
  dataDir: string;
  manifest?: RootfsManifest;
  /** Where mmdebstrap's progress goes. Default: this process's stderr. */
  log?: (line: string) => void;
  /** Rebuild even when a complete image exists. */
  force?: boolean;
}

/** Builds the image unless a complete one exists; returns its location. */
export async function buildRootfs(options: BuildOptions): Promise<RootfsLocation & { built: boolean }> {
  const manifest = options.manifest ?? readManifest();
  const location = rootfsLocation(options.dataDir, manifest);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (!options.force && rootfsProblem(location) === undefined) return { ...location, built: false };

  const parent = dirname(location.path);
  mkdirSync(parent, { recursive: true, mode: 0o711 });
  chmodSync(options.dataDir, 0o711);
  chmodSync(parent, 0o711);
  const staging = join(parent, `.staging-${location.hash}-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  log(`building rootfs ${location.hash} (${manifest.suite}, ${manifest.packages.join(' ')}) with mmdebstrap...`);
  const started = Date.now();
  try {
    await runMmdebstrap(manifest, staging, log);
    chmodSync(staging, 0o755);
    const languages = languageVersions(staging);
    log(`toolchains: ${Object.entries(languages).map(([id, version]) => `${id} ${version}`).join(', ')}`);
    const marker: RootfsMarker = { hash: location.hash, built_at: new Date().toISOString(), manifest, languages };
    writeFileSync(join(staging, MARKER), JSON.stringify(marker, null, 2), { mode: 0o644 });
    if (existsSync(location.path)) rmSync(location.path, { recursive: true, force: true });
    renameSync(staging, location.path);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
  log(`rootfs ready at ${location.path} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { ...location, built: true };
}

/** Asks each language's toolchain in the new image for its version (as root, in a chroot: the image is ours and not yet in use). */
function languageVersions(root: string): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const language of LANGUAGES) {
    try {
      const output = execFileSync('/usr/sbin/chroot', [root, ...language.version], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' }, stdio: ['ignore', 'pipe', 'ignore'] });
      versions[language.id] = output.trim().split('\n')[0];
    } catch {
      // Not in this image: the language is not offered.
    }
  }
  return versions;
}

export interface RootfsMarker {
  hash: string;
  built_at: string;
  manifest: RootfsManifest;
  /** Language id -> toolchain version, for the languages this image has. */
  languages: Record<string, string>;
}

/** The marker of a verified image (what it was built from, which languages it has). */
export function readMarker(rootfs: string): RootfsMarker {
  return JSON.parse(readFileSync(join(rootfs, MARKER), 'utf8')) as RootfsMarker;
}

function runMmdebstrap(manifest: RootfsManifest, target: string, log: (line: string) => void): Promise<void> {
  const args = [
    `--variant=${manifest.variant}`,
    `--architectures=${manifest.architecture}`,
    '--mode=root',
    `--include=${manifest.packages.join(',')}`,
    ...DPKG_OPTIONS.map((option) => `--dpkgopt=${option}`),
    `--customize-hook=${customizeHook()}`,
    manifest.suite,
    target,
    ...manifest.sources,
  ];
  return new Promise((resolve, reject) => {
    // stdin from /dev/null: mmdebstrap would otherwise read sources from a non-terminal stdin.
    const child = spawn('mmdebstrap', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const forward = (chunk: Buffer) => {
      const text = chunk.toString();
      tail = (tail + text).slice(-4000);
      for (const line of text.split('\n')) if (line.trim()) log(`  ${line}`);
    };
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    child.on('error', (error) => reject(new Error(`cannot run mmdebstrap (apt-get install mmdebstrap): ${error.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`mmdebstrap failed with exit code ${code}: ${tail.split('\n').slice(-5).join('\n')}`));
    });
  });
}
