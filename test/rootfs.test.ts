/**
 * The rootfs: content-addressed, verified by a marker written last.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manifestHash, MARKER, readManifest, rootfsLocation, rootfsProblem } from '../rootfs/build.js';
import { ROOTFS_MOUNT_POINTS } from '../sandbox/mount.js';
import { config, sh } from './helpers.js';

describe('rootfs', () => {
  it('the hash follows the manifest', () => {
    const manifest = readManifest();
    expect(manifestHash(manifest)).toMatch(/^[0-9a-f]{16}$/);
    expect(manifestHash({ ...manifest })).toBe(manifestHash(manifest));
    expect(manifestHash({ ...manifest, packages: [...manifest.packages, 'ruby'] })).not.toBe(manifestHash(manifest));
  });

  it('the installed image is complete and carries the manifest packages', async () => {
    const location = rootfsLocation(config.dataDir, config.languages);
    expect(rootfsProblem(location)).toBeUndefined();
    const result = await sh('gcc --version | head -1; g++ --version | head -1; python3 --version; bash --version | head -1');
    expect(result.stdout).toMatch(/gcc .*12\./);
    expect(result.stdout).toMatch(/g\+\+ .*12\./);
    expect(result.stdout).toMatch(/Python 3\.11/);
    expect(result.stdout).toMatch(/GNU bash/);
  });

  it('an image without its marker, or built from another manifest, is refused', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'runcell-rootfs-'));
    try {
      const location = rootfsLocation(dataDir);
      expect(rootfsProblem(location)).toMatch(/no rootfs at/);
      for (const dir of ROOTFS_MOUNT_POINTS) mkdirSync(join(location.path, dir), { recursive: true });
      expect(rootfsProblem(location)).toMatch(/incomplete/);
      writeFileSync(join(location.path, MARKER), JSON.stringify({ hash: 'something-else' }));
      expect(rootfsProblem(location)).toMatch(/another manifest/);
      writeFileSync(join(location.path, MARKER), JSON.stringify({ hash: location.hash }));
      expect(rootfsProblem(location)).toBeUndefined();
      rmSync(join(location.path, 'box'), { recursive: true });
      expect(rootfsProblem(location)).toMatch(/mount point \/box/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
