/**
 * A writable root per run ("root": "writable"): a copy-on-write overlay of
 * the rootfs that runcell-exec mounts in the launcher's own mount namespace,
 * its upper layer on a tmpfs of the run's workspace_bytes. On the real
 * kernel: writes under /usr/local and $HOME work and are gone in the next
 * run; the tmpfs cap holds; the default root stays read-only; the overlay is
 * nosuid and nodev; the host never sees it; pip installs a wheel given in
 * the job's files.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jobRequestSchema } from '../contract/job-request.js';
import { LIMIT_TABLE } from '../sandbox/limits.js';
import { verifiedRootfs } from '../rootfs/build.js';
import { config, job, MiB } from './helpers.js';

const writable = (script: string, limits = {}) => job({ command: ['/bin/sh', '-c', script], root: 'writable', limits });

describe('writable root', () => {
  it('lets a run write under /usr/local and $HOME, and the next run of the job sees none of it', async () => {
    const script = (n: number) => `find /usr/local/bin $HOME -mindepth 1 | grep . && echo leftover; echo ${n} > /usr/local/bin/mine && echo ${n} > $HOME/note && cat /usr/local/bin/mine $HOME/note && echo HOME=$HOME`;
    const result = await job({ steps: [{ command: ['/bin/sh', '-c', script(1)] }, { command: ['/bin/sh', '-c', script(2)] }], root: 'writable' });
    const [first, second] = result.steps!;
    // Each run starts from the image: the first run's files are not in the second's listing.
    expect(first.status).toBe('ok');
    expect(first.stdout).toBe('1\n1\nHOME=/home/runcell\n');
    expect(second.stdout).toBe('2\n2\nHOME=/home/runcell\n');
    // Nor in the image on the host.
    const rootfs = verifiedRootfs(config.dataDir, config.languages);
    expect(existsSync(join(rootfs, 'usr/local/bin/mine'))).toBe(false);
    expect(existsSync(join(rootfs, 'home/runcell'))).toBe(false);
  });

  it('caps what a run writes at its workspace_bytes', async () => {
    const { run } = await writable('dd if=/dev/zero of=/usr/local/big bs=1M count=64 2>&1; df -k / | tail -1', { workspace_bytes: 8 * MiB });
    expect(run!.stdout).toContain('No space left on device');
    // The tmpfs under the overlay is the run's own: 8 MiB, full.
    expect(run!.stdout).toMatch(/runcell\s+8192\s+8192\s+0\s+100%/);
  });

  it('keeps root-owned files of the image closed to the job (it is not root)', async () => {
    const { run } = await writable('echo x > /etc/passwd; echo x > /usr/bin/new; cat /etc/hostname > /dev/null && echo read-ok');
    expect(run!.stderr).toContain('/etc/passwd: Permission denied');
    expect(run!.stderr).toContain('/usr/bin/new: Permission denied');
    expect(run!.stdout).toBe('read-ok\n');
  });

  it('leaves the default root read-only', async () => {
    const result = await job({ command: ['/bin/sh', '-c', 'echo x > /usr/local/bin/mine; echo x > /opt/mine; echo HOME=$HOME'] });
    expect(result.run!.stderr).toContain('/usr/local/bin/mine: Read-only file system');
    expect(result.run!.stderr).toContain('/opt/mine: Read-only file system');
    expect(result.run!.stdout).toBe('HOME=/tmp\n');
  });

  it('mounts the overlay nosuid and nodev: a setuid file made in it grants nothing, no device works', async () => {
    const probe = [
      'import os, stat, shutil',
      'v = os.statvfs("/usr/local")',
      'print("nosuid", bool(v.f_flag & os.ST_NOSUID), "nodev", bool(v.f_flag & os.ST_NODEV))',
      'shutil.copy("/usr/bin/id", "/usr/local/bin/id-suid"); os.chmod("/usr/local/bin/id-suid", 0o6755)',
      'print("mode", oct(stat.S_IMODE(os.stat("/usr/local/bin/id-suid").st_mode)))',
      'try:\n  os.mknod("/usr/local/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3)); print("mknod made")\nexcept OSError as e: print("mknod", e.strerror)',
    ].join('\n');
    const { run } = await job({ command: ['/bin/sh', '-c', 'python3 -c "$1" && /usr/local/bin/id-suid -u', 'sh', probe], root: 'writable' });
    expect(run!.stdout).toBe('nosuid True nodev True\nmode 0o6755\nmknod Operation not permitted\n1000\n');
  });

  it('never shows the overlay or its upper layer to the host', async () => {
    const before = overlaysOnHost();
    const pending = writable('echo x > /usr/local/mine; sleep 1; echo done');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const during = overlaysOnHost();
    const { run } = await pending;
    expect(run!.stdout).toBe('done\n');
    // Mounted in the launcher's own mount namespace: gone with its last process, nothing for a sweep to find.
    expect(during).toEqual(before);
    expect(overlaysOnHost()).toEqual(before);
  });

  it("tells the job nothing of the host's paths: its / is an overlay named by /proc/self/fd links", async () => {
    const { run } = await writable('grep " / / " /proc/self/mountinfo');
    expect(run!.stdout).toMatch(/ - overlay runcell rw,lowerdir=\/proc\/self\/fd\/\d+,upperdir=\/proc\/self\/fd\/\d+,workdir=\/proc\/self\/fd\/\d+/);
    expect(run!.stdout).not.toContain(config.dataDir);
  });

  it('installs a wheel given in the job\'s files with pip install --user, then imports it', async () => {
    const pipWheel = readdirSync('/usr/share/python-wheels').find((name) => name.startsWith('pip-'));
    expect(pipWheel, 'python3-pip-whl (setup.js --test installs it)').toBeDefined();
    const files = [
      { path: 'pip.whl', content: readFileSync(join('/usr/share/python-wheels', pipWheel!)) },
      { path: 'tiny_pkg-0.1-py3-none-any.whl', content: tinyWheel() },
    ];
    const script = [
      'python3 /box/pip.whl/pip install --quiet --user --no-index --no-cache-dir --break-system-packages /box/tiny_pkg-0.1-py3-none-any.whl',
      'python3 -c "import tiny_pkg; print(tiny_pkg.greet(), tiny_pkg.__file__)"',
    ].join(' && ');
    const result = await job({ command: ['/bin/sh', '-c', script], files, root: 'writable', limits: { memory_bytes: 512 * MiB, wall_ms: 60_000, cpu_ms: 30_000 } });
    expect(result.run!.stderr).toBe('');
    expect(result.run!.stdout).toBe('hello from a wheel /home/runcell/.local/lib/python3.11/site-packages/tiny_pkg/__init__.py\n');
  });

  it('is refused for judged jobs, with the field named', () => {
    const schema = jobRequestSchema({ limits: LIMIT_TABLE, languages: ['python3'] });
    const parsed = schema.safeParse({ language: 'python3', files: [{ path: 'a.py', content: '' }], tests: [{ expected_stdout: '' }], root: 'writable' });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((issue) => issue.path.join('.'))).toContain('root');
    expect(schema.safeParse({ command: ['true'], root: 'writable' }).success).toBe(true);
    expect(schema.safeParse({ command: ['true'], root: 'rw' }).success).toBe(false);
  });
});

function overlaysOnHost(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.includes(' - overlay ') && line.includes('upperdir='));
}

/** A pure-Python wheel of one module, made with python3's zipfile (no network, no build backend). */
function tinyWheel(): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'runcell-wheel-'));
  try {
    const out = join(dir, 'tiny.whl');
    const maker = `
import base64, hashlib, sys, zipfile
files = {
  "tiny_pkg/__init__.py": b"def greet():\\n    return 'hello from a wheel'\\n",
  "tiny_pkg-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: tiny-pkg\\nVersion: 0.1\\n",
  "tiny_pkg-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: runcell-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
def digest(data):
  return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
record = "".join(f"{name},{digest(data)},{len(data)}\\n" for name, data in files.items()) + "tiny_pkg-0.1.dist-info/RECORD,,\\n"
with zipfile.ZipFile(sys.argv[1], "w") as wheel:
  for name, data in files.items():
    wheel.writestr(name, data)
  wheel.writestr("tiny_pkg-0.1.dist-info/RECORD", record)
`;
    execFileSync('python3', ['-c', maker, out]);
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
