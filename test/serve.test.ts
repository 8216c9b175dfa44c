/**
 * `runcell serve` as a user starts it: no REDIS_URL, so it runs its own
 * redis-server on a unix socket in the data directory, prints the URL and a
 * curl example, serves jobs, and on SIGTERM stops everything and exits 0.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { liveInUse, unmountAll } from '../rootfs/store.js';
import { besideSuite, BIN, http, shareRootfs, TestRedis, waitFor } from './service-helpers.js';

/** Whether a process has mapped koffi's native library: the sandbox half (koffi, libseccomp) is loaded. */
function loadedKoffi(pid: number): boolean {
  return readFileSync(`/proc/${pid}/maps`, 'utf8').includes('koffi');
}

describe('runcell serve', () => {
  it('starts its own Redis, serves jobs, and stops it all on SIGTERM', async () => {
    // A data directory of its own (for its Redis), sharing the built rootfs.
    const dataDir = mkdtempSync(join(tmpdir(), 'runcell-serve-'));
    shareRootfs(dataDir);
    const env: NodeJS.ProcessEnv = { ...process.env, ...besideSuite(dataDir, 'serve'), RUNCELL_LOG_LEVEL: 'warn', RUNCELL_SHUTDOWN_TIMEOUT_MS: '1000' };
    delete env.REDIS_URL;
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    try {
      await waitFor(() => /listening on http/.test(stdout), 30_000, 'serve to listen');
      const url = /listening on (http:\/\/\S+)/.exec(stdout)![1];
      // A worker runs here: the sandbox half is loaded (and the check below, for `runcell api`, can tell).
      expect(loadedKoffi(child.pid!)).toBe(true);
      expect(stdout).toMatch(/try: curl -s -X POST '.*\/v1\/jobs\?wait=10'/);
      const socket = join(dataDir, 'redis', 'redis.sock');
      expect(existsSync(socket)).toBe(true);
      const response = await http(`${url}/v1/jobs?wait=20`, { method: 'POST', json: { language: 'bash', files: [{ path: 'a.sh', content: 'echo served' }] } });
      expect(response.status).toBe(200);
      expect(response.body.result.run.stdout).toBe('served\n');
      // On a layered image, the worker records it in use: `runcell image prune` and `rm` leave it alone.
      const layered = existsSync(join(dataDir, 'images'));
      if (layered) expect(liveInUse(dataDir).find((record) => record.pid === child.pid)?.images).toEqual(['default']);
      // A client still holding ?wait=60 on a long job must not hold the shutdown for its minute.
      const waiting = http(`${url}/v1/jobs?wait=60`, { method: 'POST', json: { command: ['sleep', '50'], limits: { wall_ms: 60_000 } } }).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const stopping = Date.now();
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      expect(code).toBe(0);
      expect(Date.now() - stopping).toBeLessThan(20_000);
      await waiting;
      if (layered) expect(liveInUse(dataDir)).toEqual([]);
      // Its redis-server is gone with it (the socket no longer answers; redis removes it on shutdown).
      await waitFor(() => !existsSync(socket), 5000, 'the embedded Redis to stop');
      // And it persisted: the append-only file is there for the next start.
      expect(existsSync(join(dataDir, 'redis', 'appendonlydir'))).toBe(true);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      unmountAll(dataDir);
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('`runcell api` serves without loading the sandbox (no koffi, no libseccomp)', async () => {
    const redis = new TestRedis();
    await redis.start();
    const env: NodeJS.ProcessEnv = { ...process.env, REDIS_URL: redis.url, RUNCELL_LOG_LEVEL: 'warn' };
    const child = spawn(process.execPath, [BIN, 'api', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    try {
      await waitFor(() => /listening on http/.test(stdout), 30_000, 'the API to listen');
      const url = /listening on (http:\/\/\S+)/.exec(stdout)![1];
      // It validates a job with the contract and queues it, all without the sandbox's modules.
      const response = await http(`${url}/v1/jobs`, { method: 'POST', json: { language: 'bash', files: [{ path: 'a.sh', content: 'echo queued' }] } });
      expect(response.status).toBe(202);
      expect(loadedKoffi(child.pid!)).toBe(false);
    } finally {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
      await redis.destroy();
    }
  }, 60_000);
});
