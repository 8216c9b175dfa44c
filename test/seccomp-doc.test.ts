/**
 * docs/security.md lists the seccomp policy as it is: its generated section
 * must equal what sandbox/seccomp-policy.ts renders to now.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { withPolicySection } from '../sandbox/seccomp-doc.js';
import { allowedSyscalls, SECCOMP_POLICIES } from '../sandbox/seccomp-policy.js';

const page = readFileSync(new URL('../docs/security.md', import.meta.url), 'utf8');

describe('docs/security.md', () => {
  it('has the current seccomp policy (regenerate: npx tsx scripts/seccomp-doc.ts)', () => {
    expect(page).toBe(withPolicySection(page));
  });

  it('names every allowed and every denied syscall of both profiles', () => {
    for (const policy of Object.values(SECCOMP_POLICIES)) {
      for (const name of [...allowedSyscalls(policy), ...policy.denied.flatMap((entry) => entry.syscalls)]) expect(page).toContain(`\`${name}\``);
    }
  });
});
