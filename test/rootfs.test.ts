/**
 * The rootfs: content-addressed, verified by a marker written last.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadConfig } from '../cli/config.js';
import { MANIFEST_PATH, manifestHash, MARKER, readManifest, readMarker, rootfsLocation, rootfsProblem, verifiedRootfs } from '../rootfs/build.js';
import { LANGUAGES } from '../rootfs/languages.js';
import { ROOTFS_MOUNT_POINTS } from '../sandbox/mount.js';
import { config, sh } from './helpers.js';

describe('rootfs', () => {
  it('the hash follows the manifest', () => {
    const manifest = readManifest();
    expect(manifestHash(manifest)).toMatch(/^[0-9a-f]{16}$/);
    expect(manifestHash({ ...manifest })).toBe(manifestHash(manifest));
    expect(manifestHash({ ...manifest, packages: [...manifest.packages, 'ruby'] })).not.toBe(manifestHash(manifest));
  });

  it('the packages come from the language catalog, one place per language', () => {
    const raw = JSON.parse(readFileSync(MANIFEST_PATH, 'utf8'));
    expect(raw.packages, 'manifest.json lists no language packages of its own').toBeUndefined();
    const all = readManifest();
    expect(all.languages).toEqual(LANGUAGES.map((l) => l.id).sort());
    for (const language of LANGUAGES) expect(all.packages).toEqual(expect.arrayContaining(language.packages));
    expect(all.packages).toEqual([...new Set([...raw.base_packages, ...LANGUAGES.flatMap((l) => l.packages)])].sort());
  });

  it('a selection of languages is a smaller image with its own hash', () => {
    const small = readManifest(['python3', 'c']);
    expect(small.languages).toEqual(['c', 'python3']);
    expect(small.packages).toEqual(['coreutils', 'gcc', 'libc6-dev', 'python3']);
    expect(manifestHash(small)).toBe(manifestHash(readManifest(['c', 'python3'])));
    expect(manifestHash(small)).not.toBe(manifestHash(readManifest()));
    // cpp and cpp20 need the same packages, yet an image offers only what was selected.
    expect(manifestHash(readManifest(['cpp']))).not.toBe(manifestHash(readManifest(['cpp', 'cpp20'])));
    expect(() => readManifest(['c', 'cobol'])).toThrow(/unknown language "cobol"; the catalog has c, cpp/);
  });

  it('RUNCELL_LANGUAGES selects the languages, and names the unknown ones', () => {
    expect(loadConfig({}).languages).toBeUndefined();
    expect(loadConfig({ RUNCELL_LANGUAGES: ' python3, c ,' }).languages).toEqual(['c', 'python3']);
    expect(() => loadConfig({ RUNCELL_LANGUAGES: 'c,cobol' })).toThrow(/RUNCELL_LANGUAGES: unknown language "cobol"/);
  });

  it('the marker of the installed image has a version for each of its languages, and no other', () => {
    const marker = readMarker(verifiedRootfs(config.dataDir, config.languages));
    expect(Object.keys(marker.languages).sort()).toEqual(readManifest(config.languages).languages);
    for (const version of Object.values(marker.languages)) expect(version).toMatch(/^\d+(\.\d+)+$/);
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
