#!/usr/bin/env node
// Installs what runcell needs on a Debian 12 host, skipping what is already there:
// apt packages, npm dependencies, and the sandbox rootfs. Plain JavaScript with no
// dependencies, because it runs before `npm ci`. Used by `npm start` and `npm test`.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// nftables, dnsmasq-base, conntrack and iproute2: network egress (sandbox/network.ts), used only when RUNCELL_NETWORK_EGRESS is on.
const APT_PACKAGES = ['bubblewrap', 'mmdebstrap', 'libseccomp2', 'gcc', 'libc6-dev', 'util-linux', 'redis-server', 'nftables', 'dnsmasq-base', 'conntrack', 'iproute2'];
// Only for `npm test` (setup.js --test): the suite scrapes runcell with a real Prometheus and checks the
// alert rules with promtool, fails Redis over with real redis-sentinel processes (test/fleet-*.test.ts), and
// drives Debian's Chromium in the playground's browser tests (test/playground.test.ts); pip's wheel is what a writable-root job
// installs a package with (test/writable-root.test.ts); podman and runc run runcell in a container
// (test/container.test.ts; crun refuses a hybrid cgroup layout). A production host gets
// none of them (Debian's packages would start a Prometheus on :9090 and a Sentinel on :26379).
const TEST_APT_PACKAGES = ['prometheus', 'redis-sentinel', 'chromium', 'python3-pip-whl', 'podman', 'runc'];
const forTests = process.argv.includes('--test');

function step(message) {
  process.stderr.write(`[setup] ${message}\n`);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'], cwd: root, ...options });
  if (result.status !== 0) {
    step(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
    process.exit(1);
  }
}

function installed(pkg) {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).includes('install ok installed');
  } catch {
    return false;
  }
}

if (process.getuid() !== 0) {
  step('runcell needs root (it creates cgroups and mounts, then runs every job as an unprivileged slot uid): run this as root');
  process.exit(1);
}

const missing = [...APT_PACKAGES, ...(forTests ? TEST_APT_PACKAGES : [])].filter((pkg) => !installed(pkg));
if (missing.length > 0) {
  step(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
} else {
  step('Debian packages present');
}

const lock = join(root, 'package-lock.json');
const installedLock = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(installedLock) || statSync(lock).mtimeMs > statSync(installedLock).mtimeMs) {
  step('installing npm dependencies (npm ci)');
  const ci = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { stdio: ['ignore', 'inherit', 'inherit'], cwd: root });
  if (ci.status !== 0) {
    // No fallback to `npm install`: it could install versions other than the locked ones.
    step(`npm ci failed (exit ${ci.status ?? ci.signal}): package-lock.json must match package.json and list every`);
    step('platform\'s optional packages; regenerate it with `npm install --package-lock-only` and check `npm ci --dry-run`');
    process.exit(1);
  }
} else {
  step('npm dependencies present');
}

// The playground's editor bundle (CodeMirror from node_modules, see scripts/playground-build.mjs).
run(process.execPath, [join(root, 'scripts', 'playground-build.mjs'), '--if-stale']);

if (forTests) {
  // The suite is a deployment of its own (vitest.config.ts applies the same defaults): its data dir,
  // cgroup parent and slot uids are never those of a `runcell serve` on this host.
  const testDeployment = JSON.parse(readFileSync(join(root, 'test', 'deployment.json'), 'utf8'));
  for (const [name, value] of Object.entries(testDeployment)) process.env[name] ||= value;
  shareDefaultLayers() || shareDefaultRootfs();
}

/**
 * Gives the suite's data dir the layers of the default data dir's layered image (rootfs/store.ts), as hard
 * links, each copied under another name and renamed, its .json (which completes it) copied last; `rootfs build`
 * then finds every layer present and only records and mounts the image. Answers whether there was one.
 */
function shareDefaultLayers() {
  const from = '/var/lib/runcell';
  const to = process.env.RUNCELL_DATA_DIR;
  const imageFile = join(from, 'images', 'default.json');
  if (!to || to === from || !existsSync(imageFile)) return false;
  const image = JSON.parse(readFileSync(imageFile, 'utf8'));
  mkdirSync(join(to, 'layers'), { recursive: true, mode: 0o711 });
  for (const id of image.layers) {
    const [source, target] = [join(from, 'layers', id), join(to, 'layers', id)];
    if (existsSync(`${target}.json`) || !existsSync(`${source}.json`)) continue;
    step(`sharing layer ${id.slice(0, 12)} of /var/lib/runcell with ${to} (hard links)`);
    const staging = join(to, 'layers', `.link-${id}-${process.pid}`);
    run('cp', ['-al', source, staging]);
    run('rm', ['-rf', target]);
    renameSync(staging, target);
    copyFileSync(`${source}.json`, `${target}.json`);
  }
  return true;
}

/**
 * Gives the suite's data dir the default data dir's image when it has one for the same manifest, as
 * hard links (instant, no space): both are read-only to jobs, and neither runcell nor the suite writes
 * into an image once built (a rebuild makes new files). Copied under another name, then renamed: an
 * interrupted copy is never taken for an image.
 */
function shareDefaultRootfs() {
  const where = (dataDir) =>
    spawnSync(process.execPath, [join(root, 'bin', 'runcell.js'), 'rootfs', 'path'], { env: { ...process.env, RUNCELL_DATA_DIR: dataDir }, encoding: 'utf8' });
  const source = where('/var/lib/runcell');
  const target = where(process.env.RUNCELL_DATA_DIR);
  const [from, to] = [source.stdout.trim(), target.stdout.trim()];
  if (source.status !== 0 || target.status === 0 || from === to || !to || existsSync(to)) return;
  step(`sharing the rootfs of /var/lib/runcell with the suite's data dir ${process.env.RUNCELL_DATA_DIR} (hard links)`);
  mkdirSync(dirname(to), { recursive: true, mode: 0o711 });
  const staging = `${dirname(to)}/.link-${process.pid}`;
  run('cp', ['-al', from, staging]);
  renameSync(staging, to);
}

step('checking the sandbox rootfs (built once, then reused)');
run(process.execPath, [join(root, 'bin', 'runcell.js'), 'rootfs', 'build']);
