/**
 * Judge0's own web IDE (judge0/ide v2.7.0, unchanged: test/judge0-ide/) in a
 * real headless Chromium against runcell's Judge0 layer, with a private
 * Redis and a worker running real sandboxes. The IDE is served from its own
 * origin on loopback, as a user hosting it would; its CDN scripts (jquery,
 * golden-layout, monaco-editor, semantic-ui, monaco-vim, monaco-emacs) come
 * from the npm packages of the versions its SRI hashes name, and its
 * analytics, chat and news widgets get no answer. It is pointed at runcell
 * as a user does it: F8, the URL in its prompt (kept in its localStorage).
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import type { Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Browser } from './browser.js';
import { serviceFixture } from './service-helpers.js';

const IDE_DIR = join(import.meta.dirname, 'judge0-ide');
const MODULES = join(import.meta.dirname, '..', 'node_modules');
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'application/javascript', '.css': 'text/css', '.png': 'image/png', '.ico': 'image/x-icon', '.ttf': 'font/ttf', '.woff': 'font/woff', '.woff2': 'font/woff2', '.svg': 'image/svg+xml', '.eot': 'application/vnd.ms-fontobject' };

/** The IDE's CDN addresses and the npm files that hold the same bytes (the SRI hashes of index.html check it). */
const CDN: [RegExp, (match: RegExpMatchArray) => string][] = [
  [/^https:\/\/cdnjs\.cloudflare\.com\/ajax\/libs\/jquery\/3\.4\.1\/jquery\.min\.js$/, () => 'jquery/dist/jquery.min.js'],
  [/^https:\/\/cdnjs\.cloudflare\.com\/ajax\/libs\/golden-layout\/1\.5\.9\/goldenlayout\.min\.js$/, () => 'golden-layout/dist/goldenlayout.min.js'],
  [/^https:\/\/cdnjs\.cloudflare\.com\/ajax\/libs\/golden-layout\/1\.5\.9\/css\/(goldenlayout-[a-z-]+\.css)$/, (m) => `golden-layout/src/css/${m[1]}`],
  [/^https:\/\/cdnjs\.cloudflare\.com\/ajax\/libs\/semantic-ui\/2\.4\.1\/(semantic\.min\.(?:css|js)|themes\/.+)$/, (m) => `semantic-ui-css/${m[1]}`],
  // index.html asks for monaco-editor both unversioned (the loader, the "vs" path) and @0.18.1: the same files.
  [/^https:\/\/unpkg\.com\/monaco-editor(?:@0\.18\.1)?\/(min\/vs\/[^?#]+)$/, (m) => `monaco-editor/${m[1]}`],
  [/^https:\/\/unpkg\.com\/(monaco-vim|monaco-emacs)\/dist\/[a-z-]+?(?:\.js)?$/, (m) => `${m[1]}/dist/${m[1]}.js`],
];

interface Traffic {
  /** Requests to anything but the IDE's origin, runcell and the CDN files above: refused. */
  refused: string[];
  failed: string[];
  errors: string[];
  api: string[];
}

let browser: Browser;
let ide: Server;
let ideUrl: string;
const service = serviceFixture();

/** The IDE's file at a URL path, or undefined (nothing outside its folder). */
function ideFile(pathname: string): { body: Buffer; type: string } | undefined {
  const path = normalize(decodeURIComponent(pathname)).replace(/^\/+/, '') || 'index.html';
  if (path.startsWith('..')) return undefined;
  try {
    return { body: readFileSync(join(IDE_DIR, path)), type: TYPES[extname(path)] ?? 'application/octet-stream' };
  } catch {
    return undefined;
  }
}

/** Serves the IDE's files, read-only, from its own origin (another port on loopback). */
function serveIde(): Server {
  return createServer((req, res) => {
    const file = ideFile(new URL(req.url ?? '/', 'http://x').pathname);
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': file.type }).end(file.body);
  });
}

beforeAll(async () => {
  ide = serveIde().listen(0, '127.0.0.1');
  await once(ide, 'listening');
  ideUrl = `http://127.0.0.1:${(ide.address() as AddressInfo).port}`;
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  ide?.close();
});

/** The CDN's files from node_modules (with CORS: index.html loads them crossorigin="anonymous"); anything else outside: refused. */
async function cdn(route: Route, traffic: Traffic): Promise<void> {
  const url = route.request().url();
  for (const [pattern, file] of CDN) {
    const match = url.match(pattern);
    if (!match) continue;
    const path = join(MODULES, file(match));
    return route.fulfill({ status: 200, body: readFileSync(path), headers: { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream', 'access-control-allow-origin': '*' } });
  }
  traffic.refused.push(url);
  return route.abort('blockedbyclient');
}

/** A public HTTPS site hosting the IDE (as ide.judge0.com does), answered by the test. */
const PUBLIC_IDE = 'https://ide.example';

/**
 * The IDE, pointed at runcell, its editors created. `hosted`: served from its own origin on loopback
 * (default), or from a public HTTPS site, with Chromium's local network access permission granted (what
 * the user allows at Chromium's prompt when a public page first calls an address on their machine).
 */
async function openIde(hosted: 'loopback' | 'public' = 'loopback'): Promise<{ page: Page; traffic: Traffic }> {
  const traffic: Traffic = { refused: [], failed: [], errors: [], api: [] };
  const origin = hosted === 'loopback' ? ideUrl : PUBLIC_IDE;
  const page = await browser.context.newPage();
  if (hosted === 'public') {
    await browser.context.grantPermissions(['local-network-access'], { origin });
    await page.route((url) => url.origin === origin, (route) => {
      const file = ideFile(new URL(route.request().url()).pathname);
      return file ? route.fulfill({ status: 200, body: file.body, headers: { 'content-type': file.type } }) : route.fulfill({ status: 404 });
    });
  }
  await page.route((url) => url.origin !== origin && url.origin !== service.api.url, (route) => cdn(route, traffic));
  page.on('pageerror', (error) => traffic.errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') traffic.errors.push(`console: ${message.text()}`);
  });
  page.on('requestfailed', (request) => traffic.failed.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText}`));
  page.on('response', (response) => {
    if (response.url().startsWith(service.api.url)) traffic.api.push(`${response.request().method()} ${response.url().slice(service.api.url.length)} ${response.status()}`);
  });
  await page.goto(`${origin}/`);
  await started(page, traffic);
  // As a user points it elsewhere: F8, "Enter URL of Judge0 API:", then a reload (the IDE reads the setting when it loads).
  page.once('dialog', (dialog) => void dialog.accept(service.api.url));
  await page.keyboard.press('F8');
  await page.reload();
  await started(page, traffic);
  // defaultUrl: the Judge0 CE API's (apiUrl follows the language: the IDE's "extra" languages have their own, Judge0's hosted one).
  expect(await page.evaluate(() => (window as any).defaultUrl)).toBe(service.api.url);
  return { page, traffic };
}

async function started(page: Page, traffic: Traffic): Promise<void> {
  await page.waitForFunction(() => typeof (window as any).sourceEditor?.getValue === 'function' && typeof (window as any).stdoutEditor?.getValue === 'function', undefined, { timeout: 60_000 }).catch((error: Error) => {
    throw new Error(`the IDE did not start: ${error.message}\n${JSON.stringify(traffic, null, 1)}`);
  });
}

/** Picks a language in the IDE's dropdown (Semantic UI: click it, then the item). */
async function chooseLanguage(page: Page, id: number): Promise<void> {
  await page.locator('#select-language').locator('..').click();
  await page.locator(`#select-language + .text + .menu .item[data-value="${id}"], .ui.dropdown .menu .item[data-value="${id}"]`).first().click();
  await page.waitForFunction((want) => (window as any).$selectLanguage.val() === String(want), id);
}

/** Replaces the text of a Monaco editor by typing into it (select all, then the text as one input). */
async function type(page: Page, editor: 'sourceEditor' | 'stdinEditor', text: string): Promise<void> {
  await page.evaluate((name) => (window as any)[name].focus(), editor);
  await page.keyboard.press('Control+a');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
  expect(await page.evaluate((name) => (window as any)[name].getValue(), editor)).toBe(text);
}

/** What the IDE shows: its status line, and the text rendered in an output panel. */
async function shown(page: Page, panel: 'stdoutEditor' | 'compileOutputEditor'): Promise<{ status: string; text: string }> {
  await page.waitForFunction(() => document.getElementById('status-line')!.textContent !== '', undefined, { timeout: 60_000 });
  const status = (await page.textContent('#status-line'))!;
  // As a user: open the panel's tab (the output panels share one stack; a hidden editor renders no lines).
  await page.locator('.lm_tab', { hasText: panel === 'stdoutEditor' ? 'STDOUT' : 'COMPILE OUTPUT' }).click();
  // Monaco lays the shown editor out on the next frames: until then it has rendered only some of its lines.
  await page.waitForFunction((name) => {
    const editor = (window as any)[name];
    return editor.getDomNode().querySelectorAll('.view-lines .view-line').length === editor.getModel().getLineCount();
  }, panel);
  // Monaco renders each line as a .view-line placed by its `top` (not in DOM order); an empty line holds a no-break space.
  const lines = await page.evaluate((name) => {
    const rendered = [...((window as any)[name].getDomNode() as HTMLElement).querySelectorAll<HTMLElement>('.view-lines .view-line')];
    return rendered.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top)).map((line) => line.textContent!);
  }, panel);
  return { status, text: lines.map((line) => line.replaceAll('\u00a0', ' ').replace(/^ $/, '')).join('\n') };
}

/**
 * Waits until the IDE's error box (a Semantic UI modal) is shown or closed, its transition and its dimmer's
 * included: Semantic UI ignores a click on a modal still animating in, and a show while the dimmer is still
 * fading out, so a step taken mid-transition would wait for a box that never comes (or never goes).
 */
async function modal(page: Page, state: 'shown' | 'closed', traffic: Traffic): Promise<void> {
  await page.waitForFunction((want) => {
    const box = document.getElementById('site-modal')!;
    const dimmer = box.closest('.ui.dimmer');
    const animating = box.classList.contains('animating') || (dimmer?.classList.contains('animating') ?? false);
    const visible = box.classList.contains('visible') && box.classList.contains('active');
    return !animating && (want === 'shown' ? visible : !visible && !(dimmer?.classList.contains('active') ?? false));
  }, state, { timeout: 30_000 }).catch((error: Error) => {
    const classes = page.evaluate(() => { const box = document.getElementById('site-modal')!; return `${box.className} / dimmer: ${box.closest('.ui.dimmer')?.className}`; });
    return classes.then((seen) => { throw new Error(`the error box was not ${state}: ${error.message} (classes: ${seen})\n${JSON.stringify(traffic, null, 1)}`); });
  });
}

async function runIn(page: Page, traffic: Traffic): Promise<void> {
  await page.evaluate(() => document.getElementById('status-line')!.replaceChildren());
  await page.locator('#run-btn').click();
  await page.waitForFunction(() => !document.getElementById('run-btn')!.classList.contains('loading'), undefined, { timeout: 60_000 }).catch((error: Error) => {
    throw new Error(`the run did not end: ${error.message}\n${JSON.stringify(traffic, null, 1)}`);
  });
}

describe('the Judge0 IDE (v2.7.0) in Chromium against runcell', { timeout: 180_000 }, () => {
  it('runs a Python program with stdin: its output in STDOUT, "Accepted, <time>s, <memory>KB" in the status line', async () => {
    const { page, traffic } = await openIde();
    await chooseLanguage(page, 71);
    await type(page, 'sourceEditor', 'name = input()\nprint("Hello, " + name + "!")\nprint(sum(i * i for i in range(10)))\n');
    await type(page, 'stdinEditor', 'Judge0 IDE');
    await runIn(page, traffic);
    const result = await shown(page, 'stdoutEditor');
    expect(result.status, JSON.stringify(traffic, null, 1)).toMatch(/^Accepted, \d+\.\d+s, \d+KB$/);
    expect(result.text).toBe('Hello, Judge0 IDE!\n285\n');
    expect(await page.evaluate(() => (window as any).stdoutEditor.getValue())).toBe('Hello, Judge0 IDE!\n285\n');
    // What it called: a submission (base64, no wait), then polls of its token until done.
    expect(traffic.api[0]).toMatch(/^POST \/submissions\?base64_encoded=true&wait=false 201$/);
    expect(traffic.api.slice(1).every((line) => /^GET \/submissions\/[0-9a-f-]{36}\?base64_encoded=true 200$/.test(line)), traffic.api.join('\n')).toBe(true);
    expect(traffic.failed.filter((line) => line.includes(service.api.url))).toEqual([]);
    expect(traffic.errors.filter((line) => !/ERR_BLOCKED_BY_CLIENT|Could not create web worker/.test(line)), JSON.stringify(traffic, null, 1)).toEqual([]);
    await page.close();
  });

  it('C with the compiler options field (-DGREETING=42 reaches gcc), then a compile error shown as such', async () => {
    const { page, traffic } = await openIde();
    await chooseLanguage(page, 50);
    await type(page, 'sourceEditor', '#include <stdio.h>\nint main(void) { printf("%d\\n", GREETING); return 0; }\n');
    await page.locator('#compiler-options').fill('-DGREETING=42 -O2');
    await runIn(page, traffic);
    const ran = await shown(page, 'stdoutEditor');
    expect(ran.status, JSON.stringify(traffic, null, 1)).toMatch(/^Accepted, /);
    expect(ran.text).toBe('42\n');
    await page.locator('#compiler-options').fill('');
    await runIn(page, traffic);
    const failed = await shown(page, 'compileOutputEditor');
    expect(failed.status).toBe('Compilation Error, -, -');
    expect(failed.text).toMatch(/error: .GREETING. undeclared/);
    await page.close();
  });

  it('shows runcell\'s refusals in its error box: a compiler option off the allow-list, a language runcell lacks', async () => {
    const { page, traffic } = await openIde();
    await chooseLanguage(page, 50);
    await type(page, 'sourceEditor', 'int main(void) { return 0; }\n');
    await page.locator('#compiler-options').fill('-O2 -o /tmp/elsewhere');
    await runIn(page, traffic);
    await modal(page, 'shown', traffic);
    expect(await page.textContent('#site-modal #title')).toBe('Unprocessable Entity (422)');
    expect(await page.textContent('#site-modal .content')).toContain('\\"-o\\" is not an allowed compiler option');
    await page.locator('#site-modal .cancel.button').click();
    await modal(page, 'closed', traffic);
    await page.locator('#compiler-options').fill('');
    await chooseLanguage(page, 77); // COBOL: runcell has none (Kotlin, 78, came with the catalog's 30 languages)
    await runIn(page, traffic);
    await modal(page, 'shown', traffic);
    expect(await page.textContent('#site-modal .content')).toContain("language with id 77 doesn't exist");
    await page.close();
  });

  it('hosted on a public HTTPS site (runcell on the user\'s machine, the local network permission granted): runs as well', async () => {
    const { page, traffic } = await openIde('public');
    await chooseLanguage(page, 54);
    await type(page, 'sourceEditor', '#include <iostream>\nint main() { int a, b; std::cin >> a >> b; std::cout << a * b << std::endl; }\n');
    await type(page, 'stdinEditor', '6 7');
    await runIn(page, traffic);
    const result = await shown(page, 'stdoutEditor');
    expect(result.status, JSON.stringify(traffic, null, 1)).toMatch(/^Accepted, \d+\.\d+s, \d+KB$/);
    expect(result.text).toBe('42\n');
    await page.close();
  });
});
