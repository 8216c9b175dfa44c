/**
 * Who may ask for network egress: the API answers 422 naming `network` when RUNCELL_NETWORK_EGRESS is off,
 * or when it lists API keys and the request's key is not one of them; the setting is read and checked
 * against RUNCELL_API_KEYS. (What egress does is test/network.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../cli/config.js';
import { http, startApi, TestRedis, type TestApi } from './service-helpers.js';

const redis = new TestRedis();
const apis: TestApi[] = [];
let off: TestApi;
let keyed: TestApi;
let open: TestApi;

beforeAll(async () => {
  await redis.start();
  off = await startApi(redis.url);
  keyed = await startApi(redis.url, { apiKeys: ['ci-key', 'judge-key'], networkEgress: { allow: 'keys', keys: ['ci-key'] } });
  open = await startApi(redis.url, { networkEgress: { allow: 'all' } });
  apis.push(off, keyed, open);
});

afterAll(async () => {
  for (const api of apis) await api.close();
  await redis.destroy();
});

const egressJob = { command: ['/bin/true'], network: 'egress' };
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('network egress admission', () => {
  it('is refused with 422 naming network when egress is off (the default)', async () => {
    const answer = await http(`${off.url}/v1/jobs`, { method: 'POST', json: egressJob });
    expect(answer.status).toBe(422);
    expect(answer.body.error.details).toEqual([{ path: 'network', message: expect.stringMatching(/RUNCELL_NETWORK_EGRESS/) }]);
    expect((await http(`${off.url}/v1/jobs`, { method: 'POST', json: { ...egressJob, network: 'none' } })).status).toBe(202);
  });

  it('is accepted for a listed key only, in single and batch submissions', async () => {
    expect((await http(`${keyed.url}/v1/jobs`, { method: 'POST', json: egressJob, headers: bearer('ci-key') })).status).toBe(202);
    const refused = await http(`${keyed.url}/v1/jobs`, { method: 'POST', json: egressJob, headers: bearer('judge-key') });
    expect(refused.status).toBe(422);
    expect(refused.body.error.details[0]).toEqual({ path: 'network', message: 'network egress is not enabled for this API key' });
    const batch = await http(`${keyed.url}/v1/jobs/batch`, { method: 'POST', json: { jobs: [{ command: ['/bin/true'] }, egressJob] }, headers: bearer('judge-key') });
    expect(batch.status).toBe(202);
    expect(batch.body.jobs[0].status).toBe('queued');
    expect(batch.body.jobs[1].error.details[0].path).toBe('jobs.1.network');
  });

  it('is accepted from anyone when on; an unknown mode or a judged job with egress is a 422 naming network', async () => {
    expect((await http(`${open.url}/v1/jobs`, { method: 'POST', json: egressJob })).status).toBe(202);
    const wrong = await http(`${open.url}/v1/jobs`, { method: 'POST', json: { ...egressJob, network: 'host' } });
    expect(wrong.status).toBe(422);
    expect(wrong.body.error.details[0].path).toBe('network');
    const judged = { language: 'python3', files: [{ path: 'main.py', content: 'print(1)' }], tests: [{ expected_stdout: '1' }], network: 'egress' };
    const refused = await http(`${open.url}/v1/jobs`, { method: 'POST', json: judged });
    expect(refused.status).toBe(422);
    expect(refused.body.error.details[0].path).toBe('network');
  });

  it('RUNCELL_NETWORK_EGRESS: off by default, on, or keys that RUNCELL_API_KEYS has', () => {
    expect(loadConfig({}).network.egress).toEqual({ allow: 'none' });
    expect(loadConfig({ RUNCELL_NETWORK_EGRESS: 'on' }).network.egress).toEqual({ allow: 'all' });
    expect(loadConfig({ RUNCELL_NETWORK_EGRESS: 'a', RUNCELL_API_KEYS: 'a,b' }).network.egress).toEqual({ allow: 'keys', keys: ['a'] });
    expect(() => loadConfig({ RUNCELL_NETWORK_EGRESS: 'c', RUNCELL_API_KEYS: 'a,b' })).toThrow(/not in RUNCELL_API_KEYS/);
    expect(() => loadConfig({ RUNCELL_NETWORK_EGRESS: 'a' })).toThrow(/RUNCELL_API_KEYS is unset/);
    expect(() => loadConfig({ RUNCELL_NETWORK_SUBNET: '10.213.0.1/16' })).toThrow(/RUNCELL_NETWORK_SUBNET/);
  });
});
