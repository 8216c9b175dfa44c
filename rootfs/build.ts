/**
 * The root filesystem: built with mmdebstrap from rootfs/manifest.json and
 * the packages of the selected languages of the catalog (rootfs/languages.ts)
 * into <dataDir>/rootfs/<hash of the resolved manifest and recipe>. A marker
 * file written last says the image is complete and which languages it has,
 * with their versions; an image without it is never used.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JOB_GID, JOB_UID } from '../sandbox/namespaces.js';
import { ROOTFS_MOUNT_POINTS } from '../sandbox/mount.js';
import { imageRoot, listImages, mountImage, readLayer, removeTree, type ImageRecord } from './store.js';
import { findLanguage, LANGUAGES, selectLanguages, type Language } from './languages.js';

export interface RootfsManifest {
  suite: string;
  variant: string;
  architecture: string;
  sources: string[];
  /** Base packages and the selected languages' packages, sorted, without duplicates. */
  packages: string[];
  /** The selected language ids, sorted: the image offers these (and only these). */
  languages: string[];
}

export const MANIFEST_PATH = join(dirname(fileURLToPath(import.meta.url)), 'manifest.json');
export const MARKER = '.runcell-rootfs.json';
/** Bump when the build recipe below changes in a way the manifest does not show. */
const RECIPE_VERSION = 3;

/** Shell run by mmdebstrap in the finished tree ($1): mount points and the job's user. */
export function customizeHook(): string {
  const dirs = ROOTFS_MOUNT_POINTS.map((dir) => `"$1${dir}"`).join(' ');
  return [
    `mkdir -p ${dirs}`,
    'chmod 1777 "$1/tmp"',
    `echo 'runner:x:${JOB_UID}:${JOB_GID}:runcell job:/tmp:/bin/bash' >> "$1/etc/passwd"`,
    `echo 'runner:x:${JOB_GID}:' >> "$1/etc/group"`,
  ].join(' && ');
}

/**
 * Shell run by mmdebstrap after the essential packages, before the rest:
 * openjdk's postinst registers its manual pages with update-alternatives and
 * fails when /usr/share/man/man1 is missing (Debian #863199), which the
 * path-exclude below would otherwise leave it.
 */
export function essentialHook(): string {
  return 'mkdir -p "$1/usr/share/man/man1"';
}

/** Keeps the image small: no documentation, manuals or translations. */
export const DPKG_OPTIONS = [
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
];

/**
 * The manifest for an image with `languages` (ids of the catalog; undefined
 * or empty = all of them): manifest.json's base packages plus each selected
 * language's packages.
 */
export function readManifest(languages?: string[], path = MANIFEST_PATH): RootfsManifest {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const { suite, variant, architecture, sources, base_packages: base } = raw as { suite: string; variant?: string; architecture?: string; sources: string[]; base_packages: string[] };
  if (typeof suite !== 'string' || !Array.isArray(sources) || !Array.isArray(base)) {
    throw new Error(`${path}: needs suite, sources and base_packages`);
  }
  const selected = selectLanguages(languages);
  const packages = [...new Set([...base, ...selected.flatMap((language) => language.packages)])].sort();
  return {
    suite,
    variant: variant ?? 'minbase',
    architecture: architecture ?? 'amd64',
    sources,
    packages,
    languages: selected.map((language) => language.id).sort(),
  };
}

export function manifestHash(manifest: RootfsManifest): string {
  // The version commands too: the marker's versions must come from the catalog's current commands.
  const versionCommands = manifest.languages.map((id) => findLanguage(id)?.version ?? null);
  const recipe = { manifest, recipe: RECIPE_VERSION, hook: customizeHook(), essentialHook: essentialHook(), dpkg: DPKG_OPTIONS, versionCommands };
  return createHash('sha256').update(JSON.stringify(recipe)).digest('hex').slice(0, 16);
}

export interface RootfsLocation {
  hash: string;
  path: string;
  /** A layered image (rootfs/layered.ts) for this hash: `path` is where its overlay is mounted. */
  image?: ImageRecord;
  dataDir?: string;
}

/** Where the image for `languages` (undefined = all) lives; the location is the same whatever the image's state. */
export function rootfsLocation(dataDir: string, languages?: string[]): RootfsLocation {
  return locationOf(dataDir, readManifest(languages));
}

/** The layered image for `hash` when the store has one, else the monolithic image's directory. */
function locationOf(dataDir: string, manifest: RootfsManifest): RootfsLocation {
  const hash = manifestHash(manifest);
  const image = layeredImage(dataDir, hash);
  if (image) return { hash, path: imageRoot(dataDir, image), image, dataDir };
  return { hash, path: join(dataDir, 'rootfs', hash) };
}

/** A recorded image built for `hash` whose layers are all complete ("default" first). */
export function layeredImage(dataDir: string, hash: string): ImageRecord | undefined {
  const candidates = listImages(dataDir).filter((image) => image.rootfs_hash === hash).sort((a, b) => Number(b.name === 'default') - Number(a.name === 'default'));
  return candidates.find((image) => image.layers.every((id) => readLayer(dataDir, id) !== undefined));
}

/** Why the image at `location` is not usable, or undefined when it is. */
export function rootfsProblem(location: RootfsLocation): string | undefined {
  if (location.image && location.dataDir) {
    try {
      mountImage(location.dataDir, location.image);
    } catch (error) {
      return `the layered image ${location.image.name} cannot be mounted: ${(error as Error).message}`;
    }
  }
  if (!existsSync(location.path)) return `no rootfs at ${location.path}: run \`runcell rootfs build\``;
  // The launcher opens the image without following links (a link is a path someone could redirect).
  if (lstatSync(location.path).isSymbolicLink()) {
    return `the rootfs at ${location.path} is a symbolic link, which the sandbox does not follow: put the image itself there (a hard-linked copy, cp -al, costs no space)`;
  }
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

/** The verified rootfs path for `languages` (undefined = all); throws with what to do when there is none. */
export function verifiedRootfs(dataDir: string, languages?: string[]): string {
  const location = rootfsLocation(dataDir, languages);
  const problem = rootfsProblem(location);
  if (problem) throw new Error(problem);
  return location.path;
}

export interface BuildOptions {
  dataDir: string;
  /** Language ids the image offers (RUNCELL_LANGUAGES). Default: all of the catalog. */
  languages?: string[];
  /** Overrides the manifest read from manifest.json and `languages`. */
  manifest?: RootfsManifest;
  /** Where mmdebstrap's progress goes. Default: this process's stderr. */
  log?: (line: string) => void;
  /** Rebuild even when a complete image exists. */
  force?: boolean;
}

/** Builds the image unless a complete one exists; returns its location. */
export async function buildRootfs(options: BuildOptions): Promise<RootfsLocation & { built: boolean }> {
  const manifest = options.manifest ?? readManifest(options.languages);
  const location = locationOf(options.dataDir, manifest);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (!options.force && rootfsProblem(location) === undefined) return { ...location, built: false };

  const parent = dirname(location.path);
  mkdirSync(parent, { recursive: true, mode: 0o711 });
  chmodSync(options.dataDir, 0o711);
  chmodSync(parent, 0o711);
  const staging = join(parent, `.staging-${location.hash}-${process.pid}`);
  removeTree(staging);
  log(`building rootfs ${location.hash} for ${manifest.languages.join(', ')} (RUNCELL_LANGUAGES selects; ${manifest.suite}, packages ${manifest.packages.join(' ')}) with mmdebstrap; a few minutes with every language...`);
  const started = Date.now();
  try {
    await runMmdebstrap(manifest, staging, log);
    chmodSync(staging, 0o755);
    log(`asking the toolchains for their versions...`);
    const languages = languageVersions(staging, manifest.languages);
    log(`toolchains: ${Object.entries(languages).map(([id, version]) => `${id} ${version}`).join(', ')}`);
    const marker: RootfsMarker = { hash: location.hash, built_at: new Date().toISOString(), manifest, languages };
    writeFileSync(join(staging, MARKER), JSON.stringify(marker, null, 2), { mode: 0o644 });
    if (existsSync(location.path)) removeTree(location.path);
    renameSync(staging, location.path);
  } catch (error) {
    removeTree(staging);
    throw error;
  }
  log(`rootfs ready at ${location.path} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { ...location, built: true };
}

/**
 * Asks each selected language's toolchain in the new image for its version:
 * as root (the image is ours and not yet in use) in bubblewrap with a fresh
 * /proc, /dev and /tmp, since runtimes need them (the JVM, and ld.so to
 * resolve $ORIGIN for ghc). A selected language whose toolchain does not
 * answer fails the build: the image would otherwise silently lack a language
 * the operator asked for.
 */
export function languageVersions(root: string, ids: string[], catalog: Pick<Language, 'id' | 'version'>[] = LANGUAGES): Record<string, string> {
  const versions: Record<string, string> = {};
  const sandbox = ['--ro-bind', root, '/', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--unshare-all', '--die-with-parent', '--clearenv'];
  const env = ['--setenv', 'PATH', '/usr/bin:/bin', '--setenv', 'HOME', '/tmp', '--setenv', 'LANG', 'C.UTF-8'];
  for (const id of ids) {
    const language = catalog.find((entry) => entry.id === id)!;
    let output = '';
    try {
      output = execFileSync('bwrap', [...sandbox, ...env, '--', ...language.version], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    } catch (error) {
      throw new Error(`${language.id}: \`${language.version.join(' ')}\` failed in the new image: ${(error as Error).message}`);
    }
    const version = output.trim().split('\n')[0]?.trim();
    if (!version) throw new Error(`${language.id}: \`${language.version.join(' ')}\` printed no version in the new image`);
    versions[language.id] = version;
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

const HEARTBEAT_MS = 30_000;

export function runMmdebstrap(manifest: RootfsManifest, target: string, log: (line: string) => void): Promise<void> {
  const args = [
    `--variant=${manifest.variant}`,
    `--architectures=${manifest.architecture}`,
    '--mode=root',
    `--include=${manifest.packages.join(',')}`,
    ...DPKG_OPTIONS.map((option) => `--dpkgopt=${option}`),
    `--essential-hook=${essentialHook()}`,
    `--customize-hook=${customizeHook()}`,
    manifest.suite,
    target,
    ...manifest.sources,
  ];
  return new Promise((resolve, reject) => {
    // stdin from /dev/null: mmdebstrap would otherwise read sources from a non-terminal stdin.
    const child = spawn('mmdebstrap', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    let phase = 'starting';
    const started = Date.now();
    // mmdebstrap is silent for minutes while it downloads and installs big toolchains: say it is alive.
    const heartbeat = setInterval(() => log(`  ... still ${phase} (${Math.round((Date.now() - started) / 1000)} s so far)`), HEARTBEAT_MS);
    const forward = (chunk: Buffer) => {
      const text = chunk.toString();
      tail = (tail + text).slice(-4000);
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        log(`  ${line}`);
        const step = /^I: (.*?)(\.\.\.)?$/.exec(line.trim());
        if (step) phase = step[1];
      }
    };
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    child.on('close', () => clearInterval(heartbeat));
    child.on('error', (error) => {
      clearInterval(heartbeat);
      reject(new Error(`cannot run mmdebstrap (apt-get install mmdebstrap): ${error.message}`));
    });
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`mmdebstrap failed with exit code ${code}: ${tail.split('\n').slice(-5).join('\n')}`));
    });
  });
}
