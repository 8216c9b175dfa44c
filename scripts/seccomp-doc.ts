// Writes the seccomp policy tables of docs/security.md from sandbox/seccomp-policy.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { withPolicySection } from '../sandbox/seccomp-doc.js';

const page = new URL('../docs/security.md', import.meta.url);
writeFileSync(page, withPolicySection(readFileSync(page, 'utf8')));
