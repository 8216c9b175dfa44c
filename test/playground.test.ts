/**
 * The playground at `/`, in a real headless Chromium against the API, a
 * private Redis and a worker running real sandboxes: written, run and read
 * as a user would, from the keyboard.
 */
import { copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Browser } from './browser.js';
import { http, serviceFixture } from './service-helpers.js';

const service = serviceFixture();
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

/** A fresh page on the playground, its languages loaded. */
async function open(): Promise<Page> {
  const page = await browser.context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  // Nothing from anywhere but runcell itself.
  page.on('request', (request) => {
    if (!request.url().startsWith(service.api.url)) problems.push(`request outside runcell: ${request.url()}`);
  });
  await page.goto(service.api.url);
  await page.waitForSelector('body[data-ready=true]', { state: 'attached', timeout: 20_000 }).catch((error: Error) => {
    throw new Error(`the playground did not start: ${error.message}; page errors: ${problems.join(' | ')}`);
  });
  (page as Page & { problems?: string[] }).problems = problems;
  return page;
}

function problemsOf(page: Page): string[] {
  return (page as Page & { problems?: string[] }).problems ?? [];
}

/** Replaces the editor's text by typing into it (CodeMirror: select all, then insert). */
async function write(page: Page, code: string): Promise<void> {
  await page.locator('.cm-content').click();
  await page.keyboard.press('Control+a');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(code);
}

async function finished(page: Page): Promise<string> {
  await page.waitForFunction(() => document.getElementById('state')!.textContent!.startsWith('Finished'), undefined, { timeout: 60_000 });
  return (await page.textContent('#state'))!;
}

const figure = (page: Page, name: string) => page.textContent(`#fig-${name}`);

describe('the playground in Chromium', { timeout: 120_000 }, () => {
  it('serves the page and the editor bundle from runcell, and nothing else under /playground', async () => {
    const page = await http(`${service.api.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect((await http(`${service.api.url}/playground/dist/editor.js`)).status).toBe(200);
    expect((await http(`${service.api.url}/playground/editor-entry.js`)).status).toBe(404);
  });

  it('lists the languages, runs a program written in the editor with Ctrl+Enter, shows its output and figures', async () => {
    const page = await open();
    const options = await page.locator('#language option').evaluateAll((els) => els.map((e) => (e as HTMLOptionElement).value));
    const languages = (await http(`${service.api.url}/v1/languages`)).body.languages.map((l: { id: string }) => l.id);
    expect(options).toEqual(languages);
    await page.selectOption('#language', 'python3');
    await write(page, 'import sys\nname = sys.stdin.readline().strip()\nprint(f"Hello, {name}!")\nprint("squares", sum(i * i for i in range(10)))\nprint("warn", file=sys.stderr)\n');
    await page.getByLabel('Standard input').fill('Ada\n');
    await page.getByLabel('CPU (ms)').fill('2000');
    await page.locator('.cm-content').focus();
    await page.keyboard.press('Control+Enter');
    expect(await finished(page)).toContain('Finished: completed');
    expect(await page.textContent('#stdout')).toBe('Hello, Ada!\nsquares 285\n');
    expect(await page.textContent('#stderr')).toBe('warn\n');
    expect(await figure(page, 'status')).toBe('ok');
    expect(await figure(page, 'exit')).toBe('0');
    expect(await figure(page, 'cpu')).toMatch(/^\d+ ms$/);
    expect(await figure(page, 'wall')).toMatch(/^\d+ ms$/);
    expect(await figure(page, 'memory')).toMatch(/^[\d.]+ (MiB|KiB)$/);
    expect(await figure(page, 'oom')).toBe('no');
    await page.screenshot({ path: join(tmpdir(), 'runcell-playground.png'), fullPage: true });
    // PLAYGROUND_SCREENSHOT=1 refreshes the README's picture.
    if (process.env.PLAYGROUND_SCREENSHOT === '1') copyFileSync(join(tmpdir(), 'runcell-playground.png'), join(import.meta.dirname, '..', 'docs', 'playground.png'));
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  });

  it('shows a time limit as such', async () => {
    const page = await open();
    await page.selectOption('#language', 'python3');
    await write(page, 'while True:\n    pass\n');
    await page.getByLabel('CPU (ms)').fill('300');
    await page.getByRole('button', { name: 'Run' }).click();
    expect(await finished(page)).toMatch(/time limit/);
    expect(await figure(page, 'status')).toBe('time limit');
    expect(await page.locator('#fig-status').getAttribute('class')).toBe('bad');
    expect(Number((await figure(page, 'cpu'))!.split(' ')[0])).toBeGreaterThanOrEqual(300);
    await page.close();
  });

  it('shows a compile error as such, with the compiler\'s message', async () => {
    const page = await open();
    await page.selectOption('#language', 'c');
    await write(page, 'int main(void) { return undefined_name; }\n');
    await page.getByRole('button', { name: 'Run' }).click();
    expect(await finished(page)).toMatch(/compile error/);
    expect(await figure(page, 'verdict')).toBe('compile error');
    expect(await page.isVisible('#compile-output')).toBe(true);
    expect(await page.textContent('#compile-output')).toMatch(/undefined_name/);
    await page.close();
  });

  it('judges against tests and shows each test\'s verdict', async () => {
    const page = await open();
    await page.selectOption('#language', 'python3');
    await write(page, 'print(int(input()) * 2)\n');
    await page.getByLabel('Judge against tests').check();
    const tests = page.locator('#tests li');
    await tests.nth(0).getByLabel('Input').fill('21\n');
    await tests.nth(0).getByLabel('Expected output').fill('42\n');
    await tests.nth(1).getByLabel('Input').fill('5\n');
    await tests.nth(1).getByLabel('Expected output').fill('11\n');
    await page.getByRole('button', { name: 'Run' }).click();
    expect(await finished(page)).toMatch(/wrong answer.*1\/2 tests accepted/);
    const rows = await page.locator('#tests-result tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].slice(0, 2).map((c) => c.textContent)));
    expect(rows).toEqual([['1', 'accepted'], ['2', 'wrong answer']]);
    expect(await figure(page, 'verdict')).toBe('wrong answer');
    await page.close();
  });

  it('interactive stdin: lines sent while the program runs, its answers shown live, then end of file', async () => {
    const page = await open();
    await page.selectOption('#language', 'python3');
    await write(page, 'import sys\nfor line in sys.stdin:\n    print(line.strip().upper(), flush=True)\nprint("eof seen")\n');
    await page.getByLabel('Interactive stdin').check();
    await page.getByLabel('Wall (ms)').fill('20000');
    await page.keyboard.press('Control+Enter');
    const line = page.getByLabel('Send to stdin');
    await line.waitFor({ state: 'visible' });
    await page.waitForFunction(() => /running…$/i.test(document.getElementById('state')!.textContent!));
    await line.fill('hello');
    await line.press('Enter');
    // Shown from the live output events, while the program still runs.
    await page.waitForFunction(() => document.getElementById('stdout')!.textContent === 'HELLO\n', undefined, { timeout: 20_000 });
    expect(await page.textContent('#state')).toMatch(/running…$/i);
    await line.fill('world');
    await line.press('Enter');
    await page.getByRole('button', { name: 'Close stdin' }).click();
    expect(await finished(page)).toContain('Finished: completed');
    expect(await page.textContent('#stdout')).toBe('HELLO\nWORLD\neof seen\n');
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  });

  it('is usable from the keyboard: labelled controls, the editor in the Tab order and Tab leaving it', async () => {
    const page = await open();
    // Every form control has an accessible name.
    const unnamed = await page.evaluate(() =>
      [...document.querySelectorAll('input, select, textarea, button')]
        .filter((el) => !(el as HTMLElement).hidden && (el as HTMLElement).offsetParent !== null)
        .filter((el) => !(el as HTMLInputElement).labels?.length && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby') && !(el.textContent ?? '').trim())
        .map((el) => el.outerHTML),
    );
    expect(unnamed).toEqual([]);
    await page.focus('#language');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.classList.contains('cm-content'))).toBe(true);
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('cpu-ms');
    // Ctrl+Enter from a field outside the editor runs too.
    await page.keyboard.press('Control+Enter');
    expect(await finished(page)).toContain('Finished: completed');
    await page.close();
  });
});
