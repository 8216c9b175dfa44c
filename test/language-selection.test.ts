/**
 * An image with fewer languages (RUNCELL_LANGUAGES=c,python3): the worker
 * publishes what its rootfs marker says, GET /v1/languages lists just that,
 * the API answers 422 for another language, and a worker that gets such a
 * job anyway (queued before it started, or by another API) refuses it.
 * The worker here runs on the full test image but says what a c,python3
 * image's marker would say: building a second image would take minutes.
 */
import { describe, expect, it } from 'vitest';
import { readMarker, verifiedRootfs } from '../rootfs/build.js';
import { config, http, serviceFixture, untilDone } from './service-helpers.js';

const marker = () => readMarker(verifiedRootfs(config.dataDir, config.languages)).languages;
const service = serviceFixture(() => ({ languages: { c: marker().c, python3: marker().python3 } }));
const submit = (body: unknown, query = '') => http(`${service.api.url}/v1/jobs${query}`, { method: 'POST', json: body });
const java = { language: 'java', files: [{ path: 'Main.java', content: 'public class Main { public static void main(String[] a) {} }' }] };

describe('an image with some of the languages', () => {
  it('GET /v1/languages lists only those, with the versions read at build time', async () => {
    const response = await http(`${service.api.url}/v1/languages`);
    expect(response.status).toBe(200);
    expect(response.body.languages).toEqual([
      { id: 'c', name: 'C (GCC, C17)', version: marker().c, compiled: true, default_file: 'main.c' },
      { id: 'python3', name: 'Python 3', version: marker().python3, compiled: false, default_file: 'main.py' },
    ]);
  });

  it('a job for another catalog language is a 422 naming the field and what the image has', async () => {
    const response = await submit(java);
    expect(response.status).toBe(422);
    expect(response.body.error).toMatchObject({
      code: 'invalid_request',
      details: [{ path: 'language', message: 'language "java" is not installed in this rootfs (it has c, python3; see RUNCELL_LANGUAGES)' }],
    });
    const accepted = await submit({ language: 'python3', files: [{ path: 'main.py', content: 'print(6 * 7)' }] }, '?wait=30');
    expect(accepted.body.result.run).toMatchObject({ status: 'ok', stdout: '42\n' });
  });

  it('batch: the item is refused on its own', async () => {
    const response = await http(`${service.api.url}/v1/jobs/batch`, { method: 'POST', json: { jobs: [java, { command: ['/bin/true'] }] } });
    expect(response.status).toBe(202);
    expect(response.body.jobs[0].error.details).toEqual([{ path: 'jobs.0.language', message: expect.stringMatching(/"java" is not installed/) }]);
    expect(response.body.jobs[1]).toEqual({ id: expect.any(String), status: 'queued' });
  });

  it('a worker that gets such a job anyway fails it with the reason, running nothing', async () => {
    const [id] = await service.api.queue.submit([java]);
    const job = await untilDone(service.api.url, id);
    expect(job).toMatchObject({ status: 'failed', result: null, reason: expect.stringMatching(/language "java" is not installed in this rootfs/) });
  });
});
