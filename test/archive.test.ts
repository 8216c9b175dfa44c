/**
 * The safe archive reader (archive/) against crafted archives: good ones read
 * back byte for byte, hostile ones refused with the right code naming the
 * entry. Real yauzl, real tar-stream, real zlib; archives made byte by byte.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { type ArchiveError, type ArchiveLimits, type ArchiveSource, isArchiveError, readArchive, readArchiveToMemory } from '../archive/index.js';
import type { ArchiveErrorCode } from '../contract/archive.js';
import { craftTar, craftZip, type TarItem, type ZipItem } from './archive/craft.js';

const MiB = 1024 * 1024;
const scratch = mkdtempSync(join(tmpdir(), 'runcell-archive-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function refusal(source: ArchiveSource, limits: Partial<ArchiveLimits> = {}): Promise<ArchiveError> {
  try {
    await readArchiveToMemory(source, limits);
  } catch (error) {
    if (isArchiveError(error)) return error;
    throw error;
  }
  throw new Error('the archive was read without a refusal');
}

async function expectRefused(source: ArchiveSource, code: ArchiveErrorCode, entry: string | undefined, limits: Partial<ArchiveLimits> = {}) {
  const error = await refusal(source, limits);
  expect({ code: error.code, entry: error.entry }, error.message).toEqual({ code, entry });
}

const zip = (items: ZipItem[]): ArchiveSource => ({ buffer: craftZip(items) });
const tarOf = async (items: TarItem[], gzip = false): Promise<ArchiveSource> => ({ buffer: await craftTar(items, gzip) });

describe('good archives read back', () => {
  const items = [
    { name: 'problem.yaml', data: 'name: x\n' },
    { name: 'data/', mode: 0o040755 },
    { name: 'data/sample/1.in', data: '1 2\n', deflate: true },
    { name: 'run.sh', data: '#!/bin/sh\n', mode: 0o100755 },
  ];

  it('zip, stored and deflated, with modes', async () => {
    const files = await readArchiveToMemory(zip(items));
    expect(files.map((f) => [f.path, f.kind, f.executable, f.data?.toString()])).toEqual([
      ['problem.yaml', 'file', false, 'name: x\n'],
      ['data', 'directory', false, undefined],
      ['data/sample/1.in', 'file', false, '1 2\n'],
      ['run.sh', 'file', true, '#!/bin/sh\n'],
    ]);
  });

  it('tar and tar.gz, from memory and from a file, "./" prefixes normalized', async () => {
    const tarItems: TarItem[] = [
      { name: './', type: 'directory' },
      { name: './problem.yaml', data: 'name: x\n' },
      { name: './data//sample/', type: 'directory' },
      { name: './data/sample/1.in', data: '1 2\n' },
      { name: 'run.sh', data: '#!/bin/sh\n', mode: 0o755 },
    ];
    const bytes = await craftTar(tarItems, true);
    const path = join(scratch, 'good.tar.gz');
    writeFileSync(path, bytes);
    for (const source of [await tarOf(tarItems), { buffer: bytes }, { path }]) {
      const files = await readArchiveToMemory(source);
      expect(files.map((f) => [f.path, f.kind, f.executable, f.data?.toString()])).toEqual([
        ['problem.yaml', 'file', false, 'name: x\n'],
        ['data/sample', 'directory', false, undefined],
        ['data/sample/1.in', 'file', false, '1 2\n'],
        ['run.sh', 'file', true, '#!/bin/sh\n'],
      ]);
    }
  });

  it('a consumer that reads no stream still gets every entry (the reader drains)', async () => {
    const big = Buffer.alloc(3 * MiB, 7);
    for (const source of [zip([{ name: 'a', data: big, deflate: true }, { name: 'b', data: 'x' }]), await tarOf([{ name: 'a', data: big }, { name: 'b', data: 'x' }], true)]) {
      const paths: string[] = [];
      for await (const entry of readArchive(source)) paths.push(entry.path);
      expect(paths).toEqual(['a', 'b']);
    }
  });

  it('streams a large file in chunks, not one buffer', async () => {
    const path = join(scratch, 'big.zip');
    writeFileSync(path, craftZip([{ name: 'big.in', data: Buffer.alloc(20 * MiB, 0x31) }]));
    for await (const entry of readArchive({ path })) {
      let chunks = 0;
      let bytes = 0;
      for await (const chunk of entry.stream!) {
        chunks++;
        bytes += (chunk as Buffer).length;
      }
      expect(bytes).toBe(20 * MiB);
      expect(chunks).toBeGreaterThan(1);
    }
  });
});

describe('hostile names', () => {
  const cases: Array<[string, string | Buffer, string]> = [
    ['parent segment', '../evil', '../evil'],
    ['parent segment inside', 'a/../../evil', 'a/../../evil'],
    ['absolute', '/etc/passwd', '/etc/passwd'],
    ['NUL', 'a\u0000b', 'a\u0000b'],
    ['control character', 'a\nb', 'a\nb'],
    ['backslash', '..\\evil', '..\\evil'],
  ];
  for (const [label, name, entry] of cases) {
    it(`zip: ${label}`, async () => expectRefused(zip([{ name: 'ok', data: 'x' }, { name, data: 'x' }]), 'bad_path', entry));
  }
  it('zip: a name that is not UTF-8', async () => {
    const error = await refusal(zip([{ name: Buffer.from([0x61, 0xff, 0xfe]), data: 'x' }]));
    expect(error.code).toBe('bad_path');
  });
  for (const name of ['../evil', '/abs', 'a/../../evil', '..\\evil']) {
    it(`tar: ${JSON.stringify(name)}`, async () => expectRefused(await tarOf([{ name, data: 'x' }]), 'bad_path', name));
  }
  it('a name longer than the cap', async () => expectRefused(zip([{ name: 'a'.repeat(300), data: 'x' }]), 'bad_path', 'a'.repeat(300)));
});

describe('duplicates and conflicts', () => {
  it('the same path twice, however spelled', async () => {
    await expectRefused(zip([{ name: 'a/b', data: '1' }, { name: './a//b', data: '2' }]), 'duplicate_entry', './a//b');
    await expectRefused(await tarOf([{ name: 'x', data: '1' }, { name: 'x', data: '2' }]), 'duplicate_entry', 'x');
  });
  it('an entry below a file, and a file where a directory was implied', async () => {
    await expectRefused(zip([{ name: 'a', data: '1' }, { name: 'a/b', data: '2' }]), 'path_conflict', 'a/b');
    await expectRefused(await tarOf([{ name: 'a/b', data: '1' }, { name: 'a', data: '2' }]), 'path_conflict', 'a');
  });
});

describe('entry types', () => {
  for (const [label, mode] of [['FIFO', 0o010644], ['character device', 0o020644], ['block device', 0o060644], ['socket', 0o140644]] as const) {
    it(`zip: a ${label} is refused`, async () => expectRefused(zip([{ name: 'dev', data: '', mode }]), 'forbidden_type', 'dev'));
  }
  for (const type of ['fifo', 'character-device', 'block-device', 'link'] as const) {
    it(`tar: a ${type} is refused`, async () => expectRefused(await tarOf([{ name: 'f', data: 'x' }, { name: 'dev', type, linkname: type === 'link' ? 'f' : undefined }]), 'forbidden_type', 'dev'));
  }
  it('symlinks are refused unless the caller allows them', async () => {
    await expectRefused(zip([{ name: 'l', data: 'f', mode: 0o120777 }]), 'forbidden_type', 'l');
    await expectRefused(await tarOf([{ name: 'l', type: 'symlink', linkname: 'f' }]), 'forbidden_type', 'l');
  });
});

describe('symlinks, when allowed', () => {
  const allow = { allowSymlinks: true };
  it('inside the root they are yielded with their target', async () => {
    const files = await readArchiveToMemory(zip([{ name: 'f', data: 'x' }, { name: 'd/l', data: '../f', mode: 0o120777 }]), allow);
    expect(files[1]).toMatchObject({ path: 'd/l', kind: 'symlink', linkTarget: '../f' });
    const fromTar = await readArchiveToMemory(await tarOf([{ name: 'd/l', type: 'symlink', linkname: '../f' }]), allow);
    expect(fromTar[0]).toMatchObject({ path: 'd/l', kind: 'symlink', linkTarget: '../f' });
  });
  it('a target out of the root, absolute, or climbing out of another symlink is refused', async () => {
    await expectRefused(zip([{ name: 'd/l', data: '../../etc/passwd', mode: 0o120777 }]), 'symlink_escape', 'd/l', allow);
    await expectRefused(await tarOf([{ name: 'l', type: 'symlink', linkname: '/etc/passwd' }]), 'symlink_escape', 'l', allow);
    // d/x -> .. is the root; d/y -> x/../.. is the root on paper and the root's parent on disk.
    await expectRefused(await tarOf([{ name: 'd/x', type: 'symlink', linkname: '..' }, { name: 'd/y', type: 'symlink', linkname: 'x/../..' }]), 'symlink_escape', 'd/y', allow);
    // The same in the other order: the climbing target first, the symlink it climbs out of after.
    await expectRefused(await tarOf([{ name: 'd/y', type: 'symlink', linkname: 'x/..' }, { name: 'd/x', type: 'symlink', linkname: '..' }]), 'symlink_escape', 'd/x', allow);
  });
  it('an entry through a symlink is refused', async () => {
    await expectRefused(await tarOf([{ name: 'l', type: 'symlink', linkname: 'd' }, { name: 'l/evil', data: 'x' }]), 'path_conflict', 'l/evil', allow);
  });
});

describe('caps', () => {
  it('entry count', async () => {
    const many = Array.from({ length: 5 }, (_, i) => ({ name: `f${i}`, data: 'x' }));
    await expectRefused(zip(many), 'too_many_entries', undefined, { maxEntries: 4 });
    await expectRefused(await tarOf(many), 'too_many_entries', 'f4', { maxEntries: 4 });
  });
  it('one entry, and all together', async () => {
    const items = [{ name: 'a', data: Buffer.alloc(600) }, { name: 'b', data: Buffer.alloc(600) }];
    await expectRefused(zip(items), 'entry_too_large', 'a', { maxEntryBytes: 500 });
    await expectRefused(await tarOf(items), 'entry_too_large', 'a', { maxEntryBytes: 500 });
    await expectRefused(zip(items), 'total_too_large', 'b', { maxTotalBytes: 1000 });
    await expectRefused(await tarOf(items, true), 'total_too_large', 'b', { maxTotalBytes: 1000 });
  });
  it('a deflated entry that inflates past its declared size is refused while streaming', async () => {
    const error = await refusal(zip([{ name: 'liar', data: Buffer.alloc(100_000), deflate: true, declaredSize: 10 }]));
    expect([error.code, error.entry]).toEqual(['corrupt', 'liar']);
  });
  it('zip bomb: an entry out of proportion to its compressed size, before inflating it', async () => {
    await expectRefused(zip([{ name: 'zeros', data: Buffer.alloc(8 * MiB), deflate: true }]), 'compression_ratio', 'zeros', { ratioFloorBytes: MiB });
  });
  it('gzip bomb: a tar.gz stops at the ratio cap while streaming', async () => {
    const bomb = gzipSync(await craftTar([{ name: 'zeros', data: Buffer.alloc(40 * MiB) }]));
    expect(bomb.length).toBeLessThan(MiB);
    await expectRefused({ buffer: bomb }, 'compression_ratio', 'zeros', { ratioFloorBytes: 4 * MiB });
  });
  it('overlapping-file bomb: records sharing one local file\'s data', async () => {
    const items: ZipItem[] = [{ name: 'a', data: 'x'.repeat(1000), deflate: true }, { name: 'b', sameDataAs: 0 }, { name: 'c', sameDataAs: 0 }];
    await expectRefused(zip(items), 'overlapping_entries', 'b');
  });
});

describe('damaged and unsupported', () => {
  it('not an archive', async () => expectRefused({ buffer: Buffer.from('just some text, long enough to sniff '.repeat(20)) }, 'unknown_format', undefined));
  it('a truncated zip', async () => {
    const bytes = craftZip([{ name: 'a', data: 'x'.repeat(5000), deflate: true }]);
    expect((await refusal({ buffer: bytes.subarray(0, bytes.length - 30) })).code).toBe('corrupt');
  });
  it('a truncated tar.gz', async () => {
    const bytes = await craftTar([{ name: 'a', data: Buffer.alloc(200_000, 3) }], true);
    expect((await refusal({ buffer: bytes.subarray(0, bytes.length - 100) })).code).toBe('corrupt');
  });
  it('an encrypted zip entry', async () => expectRefused(zip([{ name: 'secret', data: 'x', encrypted: true }]), 'unsupported', 'secret'));
});
