// Writes README.md's configuration table from cli/settings.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { withSettingsTable } from '../cli/settings.js';

const page = new URL('../README.md', import.meta.url);
writeFileSync(page, withSettingsTable(readFileSync(page, 'utf8')));
