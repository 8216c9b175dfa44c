/**
 * Slots: one host uid per concurrent run, held across processes by lock files.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SlotPool } from '../sandbox/slots.js';

const dirs: string[] = [];
const fresh = () => {
  const dir = mkdtempSync(join(tmpdir(), 'runcell-slots-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

describe('slots', () => {
  it("each slot's companion is the next range of uids, held with it without a lock (an interactor never waits)", () => {
    const pool = new SlotPool({ dataDir: fresh(), count: 1, uidBase: 70_000 });
    const slot = pool.acquire();
    expect(pool.companion(slot)).toEqual({ index: 1, uid: 70_001, gid: 70_001 });
    // With concurrency 1 and one slot, the companion is still there; it is nobody's slot of its own.
    expect(() => pool.acquire()).toThrow(/all 1 sandbox slots are busy/);
    expect(() => pool.companion(pool.companion(slot))).toThrow(/itself a companion/);
    pool.release(slot);
  });

  it('gives each holder its own slot and uid until released', () => {
    const dataDir = fresh();
    const a = new SlotPool({ dataDir, count: 2, uidBase: 70_000 });
    const b = new SlotPool({ dataDir, count: 2, uidBase: 70_000 });
    const first = a.acquire();
    const second = b.acquire();
    expect(first).toEqual({ index: 0, uid: 70_000, gid: 70_000 });
    expect(second).toEqual({ index: 1, uid: 70_001, gid: 70_001 });
    expect(() => a.acquire()).toThrow(/all 2 sandbox slots are busy/);
    a.release(first);
    expect(b.acquire().index).toBe(0);
  });

  it('takes over a slot whose holder died', () => {
    const dataDir = fresh();
    const dead = spawnSync('true').pid!;
    mkdirSync(join(dataDir, 'slots'), { recursive: true });
    writeFileSync(join(dataDir, 'slots', '0.lock'), String(dead));
    expect(new SlotPool({ dataDir, count: 1 }).acquire().index).toBe(0);
  });

  it('refuses a uid base that would collide with system users', () => {
    expect(() => new SlotPool({ dataDir: fresh(), uidBase: 0 })).toThrow(/uid base/);
  });
});
