/**
 * The default image as layers (rootfs/store.ts): a base layer (mmdebstrap of
 * manifest.json's base packages, with the same hooks and dpkg options as the
 * monolithic image), one layer per language or per group of languages whose
 * package lists share a package, each installed by apt in a chroot on an
 * overlay of the base with an empty upper directory (the upper becomes the
 * layer), and a small merge layer on top. Language layers all have the base as
 * their only parent, so adding, removing or changing a language builds that
 * language's layer and the merge layer only, and any selection of languages
 * (RUNCELL_LANGUAGES) reuses the same layers.
 *
 * Files every layer rewrites: each language layer has its own copy of
 * /var/lib/dpkg/status (base plus its packages) and /etc/ld.so.cache, and the
 * topmost would hide the others. The merge layer holds the union of the
 * layers' dpkg status stanzas (and of /etc/passwd and /etc/group entries, in
 * case a package adds a system user), a fresh ld.so.cache from ldconfig run
 * over the whole stack, and the marker (.runcell-rootfs.json) with the
 * toolchains' versions, so that the mounted image is a rootfs like the
 * monolithic one to the rest of runcell.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  customizeHook, DPKG_OPTIONS, essentialHook, languageVersions, MANIFEST_PATH, manifestHash, MARKER, runMmdebstrap,
  type RootfsManifest, type RootfsMarker,
} from './build.js';
import { selectLanguages, type Language } from './languages.js';
import { getXattr, OPAQUE_XATTR, removeXattr } from './xattr.js';
import {
  diskUsage, ensureStore, layerId, layerPath, layersDir, listLayers, mountImage, readLayer, recordInUse, releaseInUse, removeTree, writeImage, writeLayerMeta,
  type ImageRecord, type LayerMeta,
} from './store.js';

/** Bump when the layer recipes below change in a way their inputs do not show. */
const LAYER_RECIPE = 2;

export type CatalogEntry = Pick<Language, 'id' | 'packages' | 'version'>;

export interface LayeredBuildOptions {
  dataDir: string;
  /** Language ids (RUNCELL_LANGUAGES); default all of the catalog. */
  languages?: string[];
  /** The catalog entries to build instead of rootfs/languages.ts's (tests). */
  catalog?: CatalogEntry[];
  manifestPath?: string;
  /** Image name; default "default" for the whole catalog, "default-<hash>" for a selection. */
  name?: string;
  log?: (line: string) => void;
}

export interface LayeredBuildResult {
  image: ImageRecord;
  root: string;
  /** Layer ids built by this call (the others were reused). */
  built: string[];
  hash: string;
}

interface LayerPlan {
  id: string;
  comment: string;
  inputs: Record<string, unknown>;
}

/** The image name for a selection of languages. */
export function imageNameFor(languages: string[] | undefined, hash: string): string {
  return !languages || languages.length === 0 ? 'default' : `default-${hash}`;
}

/** Languages grouped so that no package is in two groups (a union of every two lists that share one). */
export function groupLanguages(catalog: CatalogEntry[]): CatalogEntry[][] {
  const groups: CatalogEntry[][] = [];
  for (const language of [...catalog].sort((a, b) => a.id.localeCompare(b.id))) {
    const sharing = groups.filter((group) => group.some((other) => other.packages.some((pkg) => language.packages.includes(pkg))));
    const merged = [...sharing.flat(), language];
    for (const group of sharing) groups.splice(groups.indexOf(group), 1);
    groups.push(merged);
  }
  return groups.sort((a, b) => a[0].id.localeCompare(b[0].id));
}

function readBase(path: string): Omit<RootfsManifest, 'packages' | 'languages'> & { base: string[] } {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as { suite: string; variant?: string; architecture?: string; sources: string[]; base_packages: string[] };
  return { suite: raw.suite, variant: raw.variant ?? 'minbase', architecture: raw.architecture ?? 'amd64', sources: raw.sources, base: [...raw.base_packages].sort() };
}

/** The layers of the image for `catalog` (bottom first), each with the inputs its id hashes. */
export function planLayers(catalog: CatalogEntry[], manifestPath = MANIFEST_PATH): { plans: LayerPlan[]; manifest: RootfsManifest } {
  const { base, ...distribution } = readBase(manifestPath);
  const packages = [...new Set([...base, ...catalog.flatMap((language) => language.packages)])].sort();
  const manifest: RootfsManifest = { ...distribution, packages, languages: catalog.map((language) => language.id).sort() };
  const baseInputs = { kind: 'base', ...distribution, packages: base, hook: customizeHook(), essentialHook: essentialHook(), dpkg: DPKG_OPTIONS, recipe: LAYER_RECIPE };
  const baseId = layerId(baseInputs);
  const plans: LayerPlan[] = [{ id: baseId, comment: 'base', inputs: baseInputs }];
  for (const group of groupLanguages(catalog)) {
    const inputs = { kind: 'packages', parent: baseId, packages: [...new Set(group.flatMap((language) => language.packages))].sort(), recipe: LAYER_RECIPE };
    plans.push({ id: layerId(inputs), comment: group.map((language) => language.id).join('+'), inputs });
  }
  const mergeInputs = { kind: 'merge', layers: plans.map((plan) => plan.id), rootfs: manifestHash(manifest), recipe: LAYER_RECIPE };
  plans.push({ id: layerId(mergeInputs), comment: 'merge', inputs: mergeInputs });
  return { plans, manifest };
}

/** Builds the missing layers of the image for the selected languages, records and mounts it. */
export async function buildLayered(options: LayeredBuildOptions): Promise<LayeredBuildResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const catalog = options.catalog ?? selectLanguages(options.languages);
  const { plans, manifest } = planLayers(catalog, options.manifestPath);
  const hash = manifestHash(manifest);
  ensureStore(options.dataDir);
  const name = options.name ?? imageNameFor(options.languages, hash);
  const image: ImageRecord = { name, layers: plans.map((plan) => plan.id), config: {}, languages: manifest.languages, rootfs_hash: hash, created: new Date().toISOString() };
  // In use from the start: a prune meanwhile must not take the layers built before the image is recorded.
  recordInUse(options.dataDir, [image]);
  const built: string[] = [];
  let root: string;
  try {
    for (const plan of plans) {
      if (readLayer(options.dataDir, plan.id)) continue;
      log(`building layer ${plan.comment} (${plan.id.slice(0, 12)})...`);
      await buildLayer(options.dataDir, plan, plans, { manifest, catalog, hash, log });
      built.push(plan.id);
    }
    writeImage(options.dataDir, image);
    root = mountImage(options.dataDir, image);
  } finally {
    releaseInUse(options.dataDir);
  }
  log(`image ${name}: ${plans.length} layers (${built.length} built, ${plans.length - built.length} reused), mounted at ${root}`);
  return { image, root, built, hash };
}

interface BuildContext {
  manifest: RootfsManifest;
  catalog: CatalogEntry[];
  hash: string;
  log: (line: string) => void;
}

/** Builds one layer under layers/.tmp-<id>, then renames it into place and writes its meta (which completes it). */
async function buildLayer(dataDir: string, plan: LayerPlan, plans: LayerPlan[], context: BuildContext): Promise<void> {
  const staging = join(layersDir(dataDir), `.tmp-${plan.id}`);
  removeTree(staging);
  const started = Date.now();
  try {
    const kind = plan.inputs.kind;
    if (kind === 'base') await runMmdebstrap({ ...context.manifest, packages: plan.inputs.packages as string[] }, staging, context.log);
    else if (kind === 'packages') await installPackages(dataDir, plan, staging, context.log);
    else await buildMerge(dataDir, plans.slice(0, -1), staging, context);
    chmodSync(staging, 0o755);
    removeTree(layerPath(dataDir, plan.id));
    renameSync(staging, layerPath(dataDir, plan.id));
  } catch (error) {
    removeTree(staging);
    throw error;
  } finally {
    removeTree(`${staging}.work`);
    removeTree(`${staging}.mnt`);
  }
  const seconds = (Date.now() - started) / 1000;
  const size = diskUsage([layerPath(dataDir, plan.id)]);
  const meta: LayerMeta = { id: plan.id, source: 'build', inputs: plan.inputs, size, created: new Date().toISOString(), build_seconds: seconds, comment: plan.comment };
  writeLayerMeta(dataDir, meta);
  context.log(`layer ${plan.comment} built in ${seconds.toFixed(1)} s, ${(size / 1e6).toFixed(1)} MB`);
}

/**
 * Mounts, in a mount namespace of its own (every mount vanishes with it,
 * whatever fails), an overlay of `lowers` (bottom first) with `staging` as
 * its upper directory at <staging>.mnt, then runs `script` with $M = the
 * merged tree. The overlay options keep the upper a standalone layer: no
 * redirects, no metacopy, no index.
 */
function inOverlay(dataDir: string, lowers: string[], staging: string, script: string, log: (line: string) => void): Promise<void> {
  for (const dir of [staging, `${staging}.work`, `${staging}.mnt`]) mkdirSync(dir, { recursive: true, mode: 0o755 });
  const lower = [...lowers].reverse().join(':');
  const mount = `mount -t overlay runcell-build -o lowerdir=${lower},upperdir=${staging},workdir=${staging}.work,redirect_dir=off,metacopy=off,index=off,xino=off "$M"`;
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', M: `${staging}.mnt`, LANG: 'C' };
  return runLogged('unshare', ['--mount', '--propagation', 'private', 'sh', '-euc', `${mount}\n${script}`], { cwd: layersDir(dataDir), env }, log);
}

/** Installs a group's packages with apt in a chroot on base + empty upper; apt's lists and caches stay on tmpfs. */
async function installPackages(dataDir: string, plan: LayerPlan, staging: string, log: (line: string) => void): Promise<void> {
  const packages = (plan.inputs.packages as string[]).join(' ');
  const script = [
    'mount -t proc proc "$M/proc"',
    'mount --bind /dev "$M/dev"',
    'mount -t tmpfs tmpfs "$M/tmp"',
    'for d in var/lib/apt/lists var/cache/apt; do mount -t tmpfs tmpfs "$M/$d"; done',
    'mkdir -p "$M/var/lib/apt/lists/partial" "$M/var/cache/apt/archives/partial"',
    'mount --bind /etc/resolv.conf "$M/etc/resolv.conf"',
    'chroot "$M" env DEBIAN_FRONTEND=noninteractive apt-get -qq update',
    `chroot "$M" env DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends install ${packages}`,
  ].join('\n');
  await inOverlay(dataDir, [plan.inputs.parent as string], staging, script, log);
  clearNeedlessOpaque(staging, [layerPath(dataDir, plan.inputs.parent as string)]);
  const shared = shareIdenticalFiles(staging, siblingLayers(dataDir, plan));
  log(`  ${(shared / 1e6).toFixed(1)} MB of files identical to a sibling layer's hard-linked to it`);
  // Logs and backups of the install: the base's own stay visible below.
  for (const path of ['var/log/apt', 'var/log/dpkg.log', 'var/log/alternatives.log', 'var/cache/ldconfig', 'var/lib/dpkg/status-old', 'var/lib/dpkg/diversions-old', 'var/cache/debconf/config.dat-old', 'var/cache/debconf/templates.dat-old']) {
    removeTree(join(staging, path));
  }
}

/**
 * overlay marks every directory it creates where its parent is merged as
 * opaque (trusted.overlay.opaque), whether or not a lower layer has it: in a
 * sibling layer stacked above others, /usr/lib/gcc so marked would hide the
 * C++ layer's compilers. The mark stays only where a lower layer of the
 * build had a directory at that path (one really replaced).
 */
export function clearNeedlessOpaque(tree: string, lowers: string[]): void {
  for (const entry of readdirSync(tree, { recursive: true, withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const path = join(entry.parentPath, entry.name);
    if (!getXattr(path, OPAQUE_XATTR)) continue;
    const relative = path.slice(tree.length + 1);
    if (!lowers.some((lower) => lstatSync(join(lower, relative), { throwIfNoEntry: false })?.isDirectory())) removeXattr(path, OPAQUE_XATTR);
  }
}

/** Complete layers built on the same parent (their files are candidates for sharing). */
function siblingLayers(dataDir: string, plan: LayerPlan): string[] {
  return listLayers(dataDir)
    .filter((meta) => meta.source === 'build' && meta.inputs.kind === 'packages' && meta.inputs.parent === plan.inputs.parent && meta.id !== plan.id)
    .map((meta) => layerPath(dataDir, meta.id));
}

/**
 * Sibling language layers install common dependencies each (gcc for C, C++,
 * Haskell and Rust): a regular file of `tree` identical to the file at the
 * same path in a sibling (same content, mode, owner and mtime) becomes a
 * hard link to it, so that the disk holds it once. Safe because a complete
 * layer is never written again. Answers the bytes shared.
 */
export function shareIdenticalFiles(tree: string, siblings: string[]): number {
  let shared = 0;
  for (const entry of readdirSync(tree, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const relative = path.slice(tree.length + 1);
    const mine = lstatSync(path);
    if (mine.size < MIN_SHARED_BYTES || mine.nlink > 1) continue;
    for (const sibling of siblings) {
      const other = lstatSync(join(sibling, relative), { throwIfNoEntry: false });
      if (!other?.isFile() || other.size !== mine.size || other.mode !== mine.mode || other.uid !== mine.uid || other.gid !== mine.gid || other.mtimeMs !== mine.mtimeMs) continue;
      if (!readFileSync(path).equals(readFileSync(join(sibling, relative)))) continue;
      const staging = `${path}.runcell-link`;
      linkSync(join(sibling, relative), staging);
      renameSync(staging, path);
      shared += mine.size;
      break;
    }
  }
  return shared;
}

const MIN_SHARED_BYTES = 4096;

/** The merge layer: the union of dpkg status and accounts, ldconfig over the stack, and the marker. */
async function buildMerge(dataDir: string, lowers: LayerPlan[], staging: string, context: BuildContext): Promise<void> {
  const trees = lowers.map((plan) => layerPath(dataDir, plan.id));
  for (const dir of ['var/lib/dpkg', 'etc']) mkdirSync(join(staging, dir), { recursive: true, mode: 0o755 });
  writeFileSync(join(staging, 'var/lib/dpkg/status'), mergeStanzas(trees.map((tree) => readIfExists(join(tree, 'var/lib/dpkg/status')))), { mode: 0o644 });
  for (const file of ['etc/passwd', 'etc/group']) {
    writeFileSync(join(staging, file), mergeLines(trees.map((tree) => readIfExists(join(tree, file)))), { mode: 0o644 });
  }
  await inOverlay(dataDir, lowers.map((plan) => plan.id), staging, 'chroot "$M" ldconfig', context.log);
  removeTree(join(staging, 'var/cache/ldconfig'));
  const marker: RootfsMarker = { hash: context.hash, built_at: new Date().toISOString(), manifest: context.manifest, languages: await versionsOnStack(dataDir, lowers, staging, context) };
  writeFileSync(join(staging, MARKER), JSON.stringify(marker, null, 2), { mode: 0o644 });
}

/** Asks the toolchains for their versions on a read-only mount of the stack with the merge layer being built. */
async function versionsOnStack(dataDir: string, lowers: LayerPlan[], staging: string, context: BuildContext): Promise<Record<string, string>> {
  const layers = [...lowers.map((plan) => plan.id), staging.split('/').pop()!];
  const root = `${staging}.mnt`;
  mkdirSync(root, { recursive: true });
  const lower = [...layers].reverse().join(':');
  await runLogged('mount', ['-t', 'overlay', 'runcell-probe', '-o', `ro,nodev,lowerdir=${lower}`, root], { cwd: layersDir(dataDir) }, context.log);
  try {
    context.log('asking the toolchains for their versions...');
    const versions = languageVersions(root, context.manifest.languages, context.catalog);
    context.log(`toolchains: ${Object.entries(versions).map(([id, version]) => `${id} ${version}`).join(', ')}`);
    return versions;
  } finally {
    await runLogged('umount', [root], {}, context.log);
  }
}

function readIfExists(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

/** dpkg status files merged: one stanza per package and architecture, the upper layer's winning. */
export function mergeStanzas(files: (string | undefined)[]): string {
  const stanzas = new Map<string, string>();
  for (const file of files) {
    for (const stanza of (file ?? '').split(/\n\s*\n/).map((text) => text.trim()).filter(Boolean)) {
      const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(stanza)?.[1] ?? '';
      stanzas.set(`${field('Package')}:${field('Architecture')}`, stanza);
    }
  }
  return [...stanzas.values()].map((stanza) => `${stanza}\n`).join('\n');
}

/** passwd/group files merged: one line per name, in the order first seen. */
export function mergeLines(files: (string | undefined)[]): string {
  const lines = new Map<string, string>();
  for (const file of files) for (const line of (file ?? '').split('\n').filter(Boolean)) if (!lines.has(line.split(':')[0])) lines.set(line.split(':')[0], line);
  return [...lines.values()].map((line) => `${line}\n`).join('');
}

const HEARTBEAT_MS = 30_000;

function runLogged(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv }, log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let tail = '';
    const started = Date.now();
    const heartbeat = setInterval(() => log(`  ... still running ${command} (${Math.round((Date.now() - started) / 1000)} s so far)`), HEARTBEAT_MS);
    const forward = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4000);
      for (const line of chunk.toString().split('\n')) if (line.trim()) log(`  ${line}`);
    };
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    child.on('error', (error) => {
      clearInterval(heartbeat);
      reject(new Error(`cannot run ${command}: ${error.message}`));
    });
    child.on('close', (code) => {
      clearInterval(heartbeat);
      if (code === 0) resolve();
      else reject(new Error(`${command} failed with exit code ${code}: ${tail.split('\n').slice(-6).join('\n')}`));
    });
  });
}

