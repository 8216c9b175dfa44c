/**
 * Configuration from the environment: settings that would point runcell at
 * the wrong place on the host are refused at start, naming the variable.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../cli/config.js';

describe('RUNCELL_CGROUP_PARENT', () => {
  it('defaults to runcell and takes a plain name', () => {
    expect(loadConfig({}).cgroupParent).toBe('runcell');
    expect(loadConfig({ RUNCELL_CGROUP_PARENT: 'runcell-ci_2' }).cgroupParent).toBe('runcell-ci_2');
  });

  it("refuses paths and the names of systemd's and the kernel's own entries", () => {
    for (const name of ['system.slice', 'init.scope', 'cgroup.procs', '../memory', 'a/b', '.hidden', 'x'.repeat(65)]) {
      expect(() => loadConfig({ RUNCELL_CGROUP_PARENT: name }), name).toThrow(/RUNCELL_CGROUP_PARENT must be a plain name/);
    }
  });
});
