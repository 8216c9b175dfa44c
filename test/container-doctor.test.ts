/**
 * `runcell doctor`'s container checks (cli/container.ts) on the facts a container shows: the mountinfo,
 * status and cgroup lines below are trimmed from a default rootful podman container on this hybrid
 * host (test/container.test.ts runs the real thing).
 */
import { describe, expect, it } from 'vitest';
import { cgroupNamespaceNote, containerProblems, detectContainerEngine } from '../cli/container.js';

const PODMAN_DEFAULT_CAPS = 'CapEff:\t00000000800405fb\n';
const ALL_CAPS = 'CapEff:\t000001ffffffffff\n';
const MOUNTS = (cgroupOptions: string, masked: boolean) =>
  [
    '600 500 0:50 / / rw,relatime - overlay overlay rw',
    '601 600 0:52 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw',
    ...(masked ? ['602 601 0:53 / /proc/kcore rw,nosuid - tmpfs tmpfs ro', '603 601 0:54 /sys /proc/sys ro,relatime - proc proc rw'] : []),
    `610 600 0:60 / /sys/fs/cgroup/memory ${cgroupOptions},nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory`,
    `611 600 0:61 / /sys/fs/cgroup/pids ${cgroupOptions},nosuid,nodev,noexec,relatime - cgroup cgroup rw,pids`,
  ].join('\n');

describe('doctor in a container', () => {
  it('names each thing the runtime\'s defaults take away, with podman\'s option for it', () => {
    const problems = containerProblems({ engine: 'podman', status: PODMAN_DEFAULT_CAPS, mountinfo: MOUNTS('ro', true), procSelfCgroup: '4:memory:/\n' });
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/^capabilities missing: SYS_ADMIN .*SYS_PTRACE .*: podman run --cap-add=SYS_ADMIN --cap-add=SYS_PTRACE/);
    expect(problems[1]).toMatch(/\/proc is partly covered \(\/proc\/kcore, \/proc\/sys\).*podman run --security-opt unmask=ALL/);
    expect(problems[2]).toMatch(/cgroup tree is read-only here \(\/sys\/fs\/cgroup\/memory, \/sys\/fs\/cgroup\/pids\)/);
  });

  it('gives docker\'s spelling in a docker container', () => {
    const [proc] = containerProblems({ engine: 'docker', status: ALL_CAPS, mountinfo: MOUNTS('rw', true), procSelfCgroup: '0::/\n' });
    expect(proc).toMatch(/docker run --security-opt systempaths=unconfined/);
  });

  it('has nothing to say where runcell has what it needs', () => {
    expect(containerProblems({ engine: undefined, status: ALL_CAPS, mountinfo: MOUNTS('rw', false), procSelfCgroup: '0::/\n' })).toEqual([]);
  });

  it('notes a shared cgroup namespace, and not a private one', () => {
    expect(cgroupNamespaceNote('podman', '4:memory:/libpod_parent/libpod-abc\n0::/\n')).toMatch(/4:memory:\/libpod_parent\/libpod-abc.*podman run --cgroupns=private/);
    expect(cgroupNamespaceNote('podman', '4:memory:/\n0::/\n')).toBeUndefined();
    expect(cgroupNamespaceNote('docker', '0::/runcell-supervisor\n')).toBeUndefined();
  });

  it('tells the engine from the marks it leaves', () => {
    expect(detectContainerEngine((p) => p === '/run/.containerenv', undefined)).toBe('podman');
    expect(detectContainerEngine((p) => p === '/.dockerenv', undefined)).toBe('docker');
    expect(detectContainerEngine(() => false, 'PATH=/bin\0container=lxc\0')).toBe('lxc');
    expect(detectContainerEngine(() => false, undefined)).toBeUndefined();
  });
});
