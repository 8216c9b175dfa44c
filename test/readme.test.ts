/**
 * README.md names what is there: every CLI command (as buildProgram defines
 * them) and every module of sandbox/. Pure: reads the sources.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../cli/main.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

function commandNames(command: Command, prefix = 'runcell'): string[] {
  return command.commands.flatMap((sub) => {
    const name = `${prefix} ${sub.name()}`;
    return sub.commands.length > 0 ? commandNames(sub, name) : [name];
  });
}

describe('README.md', () => {
  it('names every CLI command', () => {
    const names = commandNames(buildProgram());
    expect(names).toEqual(expect.arrayContaining(['runcell run', 'runcell rootfs path']));
    expect(names.filter((name) => !readme.includes(`\`${name}`))).toEqual([]);
  });

  it('lists every module of sandbox/', () => {
    const block = readme.slice(readme.indexOf(' sandbox/\n'), readme.indexOf(' rootfs/ '));
    expect(block.length).toBeGreaterThan(100);
    const modules = readdirSync(new URL('../sandbox/', import.meta.url)).filter((file) => file.endsWith('.ts'));
    expect(modules.filter((file) => !new RegExp(`(^|\\s)${file.replace('.', '\\.')}\\s`, 'm').test(block))).toEqual([]);
  });
});
