#!/usr/bin/env node
// Bundles the playground's editor (CodeMirror 6 from node_modules) into api/playground/dist/editor.js with
// esbuild, when the bundle is missing or older than its entry or package-lock.json. Run by setup.js after
// `npm ci`; runcell serves the bundle itself, so the playground needs nothing from the internet.
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'api', 'playground', 'editor-entry.js');
const out = join(root, 'api', 'playground', 'dist', 'editor.js');

export function bundleIsFresh() {
  if (!existsSync(out)) return false;
  const built = statSync(out).mtimeMs;
  return [entry, join(root, 'package-lock.json')].every((source) => statSync(source).mtimeMs <= built);
}

export async function buildPlaygroundBundle() {
  const { build } = await import('esbuild');
  await build({ entryPoints: [entry], outfile: out, bundle: true, minify: true, format: 'iife', target: 'es2020', legalComments: 'linked', logLevel: 'warning' });
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--if-stale') && bundleIsFresh()) process.exit(0);
  process.stderr.write(`[playground] bundled ${await buildPlaygroundBundle()}\n`);
}
