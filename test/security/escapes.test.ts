/**
 * Adversarial suite, escapes and leaks (docs/threats.md lines 13-24): each attack
 * runs as a real job against a host that holds a secret file and a secret
 * in the worker's environment; the host is checked after each.
 */
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProgramAttack, type AttackContext } from './attack.js';
import { ESCAPE_ATTACKS, helperDigests, SENTINEL_CONTENT, sentinelIntact } from './attacks/escapes.js';

const context: AttackContext = {
  sentinel: join(tmpdir(), `runcell-sentinel-${randomBytes(6).toString('hex')}`),
  secret: `s3cr3t-${randomBytes(12).toString('hex')}`,
};
let helpers: string[] = [];

beforeAll(() => {
  writeFileSync(context.sentinel!, SENTINEL_CONTENT, { mode: 0o600 });
  // The worker's own secrets: this process is the worker here.
  process.env.REDIS_URL = `redis://:${context.secret}@127.0.0.1:6379/0`;
  process.env.SECRET_TOKEN = context.secret;
  helpers = helperDigests();
});

afterAll(() => {
  delete process.env.REDIS_URL;
  delete process.env.SECRET_TOKEN;
  rmSync(context.sentinel!, { force: true });
});

describe('escapes and leaks', () => {
  for (const attack of ESCAPE_ATTACKS) {
    it(`${attack.id}: ${attack.does}`, async () => {
      await runProgramAttack(attack, context);
    });
  }

  it('after all of them: the runtime on the host is unchanged and the sentinel intact', () => {
    expect(helpers.length).toBeGreaterThan(0);
    expect(helperDigests()).toEqual(helpers);
    sentinelIntact(context);
  });
});
