// runcell playground: submits jobs to /v1/jobs, follows their events, shows the result.
// Plain browser JavaScript; the only dependency is the editor bundle (dist/editor.js).
'use strict';

const $ = (id) => document.getElementById(id);
const SAMPLES = {
  c: '#include <stdio.h>\n\nint main(void) {\n    char name[64];\n    if (scanf("%63s", name) == 1) printf("Hello, %s!\\n", name);\n    else printf("Hello, world!\\n");\n    return 0;\n}\n',
  cpp: '#include <iostream>\n#include <string>\n\nint main() {\n    std::string name;\n    if (std::cin >> name) std::cout << "Hello, " << name << "!\\n";\n    else std::cout << "Hello, world!\\n";\n}\n',
  python3: 'import sys\n\nname = sys.stdin.readline().strip() or "world"\nprint(f"Hello, {name}!")\n',
  javascript: 'const input = require("fs").readFileSync(0, "utf8").trim();\nconsole.log(`Hello, ${input || "world"}!`);\n',
  bash: 'read -r name\necho "Hello, ${name:-world}!"\n',
};
SAMPLES.cpp20 = SAMPLES.cpp;

const state = { busy: false, languages: [], jobId: null, abort: null, editor: null, live: { stdout: '', stderr: '' } };

function apiHeaders(json = false) {
  const headers = {};
  const key = $('api-key').value.trim();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (json) headers['Content-Type'] = 'application/json';
  return headers;
}

function source() { return state.editor ? state.editor.getValue() : $('source').value; }
function setSource(text) { if (state.editor) state.editor.setValue(text); else $('source').value = text; }
function mode() { return document.querySelector('input[name=mode]:checked').value; }
function say(text) { $('state').textContent = text; }

function setUpEditor() {
  const language = $('language').value;
  try {
    if (window.RuncellEditor) state.editor = window.RuncellEditor.create($('editor'), { doc: SAMPLES[language] ?? '', language, onRun: run });
  } catch (error) {
    console.error('the editor failed to start; using a plain textarea', error);
  }
  if (!state.editor) {
    // The bundle is missing (setup has not built it): a plain textarea does the job.
    $('editor').hidden = true;
    $('source').hidden = false;
    $('source').value = SAMPLES[language] ?? '';
  }
}

async function loadLanguages() {
  const res = await fetch('/v1/languages', { headers: apiHeaders() });
  if (!res.ok) throw new Error(`GET /v1/languages: ${res.status} ${await res.text()}`);
  state.languages = (await res.json()).languages;
  const select = $('language');
  select.replaceChildren(...state.languages.map((l) => new Option(`${l.name}${l.version ? ` (${l.version})` : ''}`, l.id)));
  const preferred = ['python3', 'c', 'cpp'].find((id) => state.languages.some((l) => l.id === id));
  if (preferred) select.value = preferred;
  $('language-note').textContent = state.languages.length === 0 ? 'no worker has published its languages yet' : '';
}

function onLanguageChange() {
  const id = $('language').value;
  state.editor?.setLanguage(id);
  const current = source().trim();
  // Replace the text only while it is untouched (empty or another language's sample).
  if (current === '' || Object.values(SAMPLES).some((s) => s.trim() === current)) setSource(SAMPLES[id] ?? '');
}

function addTest(stdin = '', expected = '') {
  const list = $('tests');
  const n = list.children.length + 1;
  const item = document.createElement('li');
  item.innerHTML = `<label>Input <textarea rows="2" spellcheck="false" data-field="stdin"></textarea></label>
    <label>Expected output <textarea rows="2" spellcheck="false" data-field="expected"></textarea></label>
    <button type="button" aria-label="Remove test ${n}">Remove</button>`;
  item.querySelector('[data-field=stdin]').value = stdin;
  item.querySelector('[data-field=expected]').value = expected;
  item.querySelector('button').addEventListener('click', () => { item.remove(); list.querySelector('textarea')?.focus(); });
  list.append(item);
  return item;
}

function onModeChange() {
  const m = mode();
  $('stdin-block').hidden = m !== 'run';
  $('tests-block').hidden = m !== 'judge';
  if (m === 'judge' && $('tests').children.length === 0) { addTest('Ada\n', 'Hello, Ada!\n'); addTest('', 'Hello, world!\n'); }
}

function limitsOf() {
  const limits = {};
  const cpu = Number($('cpu-ms').value), wall = Number($('wall-ms').value), mem = Number($('memory-mib').value);
  if (cpu > 0) limits.cpu_ms = Math.round(cpu);
  if (wall > 0) limits.wall_ms = Math.round(wall);
  if (mem > 0) limits.memory_bytes = Math.round(mem * 1024 * 1024);
  return limits;
}

function buildRequest() {
  const language = $('language').value;
  const entry = state.languages.find((l) => l.id === language)?.default_file ?? 'main';
  const request = { language, files: [{ path: entry, content: source() }] };
  const limits = limitsOf();
  if (Object.keys(limits).length > 0) request.limits = limits;
  const m = mode();
  if (m === 'run' && $('stdin').value !== '') request.stdin = $('stdin').value;
  if (m === 'interactive') request.interactive_stdin = true;
  if (m === 'judge') {
    request.tests = [...$('tests').children].map((item, i) => ({
      id: String(i + 1),
      stdin: item.querySelector('[data-field=stdin]').value,
      expected_stdout: item.querySelector('[data-field=expected]').value,
    }));
  }
  return request;
}

function clearResult() {
  for (const id of ['stdout', 'stderr', 'compile-output']) $(id).textContent = '';
  for (const id of ['fig-status', 'fig-verdict', 'fig-exit', 'fig-cpu', 'fig-wall', 'fig-memory', 'fig-oom']) { $(id).textContent = '–'; $(id).className = ''; }
  $('message').hidden = true;
  $('compile-block').hidden = true;
  $('tests-result-block').hidden = true;
  $('tests-result').tBodies[0].replaceChildren();
  state.live = { stdout: '', stderr: '' };
}

function setBusy(busy) {
  $('run').disabled = busy;
  $('cancel').disabled = !busy;
  $('interactive-block').hidden = !(busy && mode() === 'interactive');
}

async function run() {
  // The editor's Ctrl+Enter and the page's both land here: one run at a time.
  if (state.busy) return;
  state.busy = true;
  clearResult();
  setBusy(true);
  say('Submitting…');
  try {
    const res = await fetch('/v1/jobs', { method: 'POST', headers: apiHeaders(true), body: JSON.stringify(buildRequest()) });
    const body = await res.json();
    if (!res.ok) { showRefusal(res.status, body); return; }
    state.jobId = body.id;
    say('Queued.');
    if (mode() === 'interactive') $('send-line').focus();
    await follow(body.id);
    await showJob(body.id);
  } catch (error) {
    if (error.name !== 'AbortError') say(`Error: ${error.message}`);
  } finally {
    state.jobId = null;
    state.abort = null;
    state.busy = false;
    setBusy(false);
  }
}

function showRefusal(status, body) {
  const error = body.error ?? {};
  const details = (error.details ?? []).map((d) => `${d.path}: ${d.message}`).join('; ');
  say(`Refused (${status}): ${error.message ?? JSON.stringify(body)}${details && !String(error.message).includes(details) ? ` (${details})` : ''}`);
}

/** Reads the job's Server-Sent Events through fetch (an EventSource could not send the API key). */
async function follow(id) {
  state.abort = new AbortController();
  const res = await fetch(`/v1/jobs/${id}/events`, { headers: apiHeaders(), signal: state.abort.signal });
  if (!res.ok || !res.body) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      if (!data) continue;
      const event = JSON.parse(data);
      onEvent(event);
      if (['completed', 'cancelled', 'failed'].includes(event.type)) { reader.cancel().catch(() => {}); return; }
    }
  }
}

function onEvent(event) {
  const d = event.data ?? {};
  if (event.type === 'started') say('Running…');
  else if (event.type === 'compile_finished' && !d.checker) say(d.status === 'ok' ? 'Compiled; running…' : 'Compile failed.');
  else if (event.type === 'test_finished') { say(`Judged test ${d.index + 1} of ${d.total}…`); addTestRow(d); }
  else if (event.type === 'output' && (d.stream === 'stdout' || d.stream === 'stderr')) {
    // Live output: shown as it comes; the final result replaces it.
    state.live[d.stream] += d.data;
    $(d.stream).textContent = state.live[d.stream];
  }
}

const ms = (n) => `${n} ms`;
function bytes(n) {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(0)} KiB`;
  return `${n} B`;
}

function addTestRow(t, detail = '') {
  const body = $('tests-result').tBodies[0];
  $('tests-result-block').hidden = false;
  let row = body.querySelector(`tr[data-id="${CSS.escape(t.id)}"]`);
  if (!row) { row = body.insertRow(); row.dataset.id = t.id; }
  const cells = [t.id, t.verdict.replaceAll('_', ' '), t.status, ms(t.cpu_ms), ms(t.wall_ms), bytes(t.memory_peak_bytes), detail];
  row.replaceChildren(...cells.map((text, i) => { const cell = document.createElement(i === 0 ? 'th' : 'td'); cell.textContent = text; return cell; }));
  row.children[1].className = t.verdict === 'accepted' ? 'good' : 'bad';
}

function figure(id, text, good) {
  $(id).textContent = text;
  $(id).className = good === undefined ? '' : good ? 'good' : 'bad';
}

async function showJob(id) {
  const res = await fetch(`/v1/jobs/${id}`, { headers: apiHeaders() });
  const job = await res.json();
  if (!res.ok) { say(`Error: ${job.error?.message ?? res.status}`); return; }
  const result = job.result ?? {};
  const compile = result.compile;
  if (compile && (compile.status !== 'ok' || compile.stdout || compile.stderr)) {
    $('compile-block').hidden = false;
    $('compile-output').textContent = compile.stdout + compile.stderr;
  }
  const shown = result.run ?? (compile && compile.status !== 'ok' ? compile : undefined);
  const verdict = result.verdict ?? (compile && compile.status !== 'ok' ? 'compile_error' : undefined);
  if (result.tests) for (const t of result.tests) addTestRow(t, t.verdict_message ?? '');
  if (shown && result.run) { $('stdout').textContent = shown.stdout; $('stderr').textContent = shown.stderr; }
  const last = shown ?? result.tests?.at(-1);
  figure('fig-status', job.status === 'completed' ? (last?.status ?? 'completed').replaceAll('_', ' ') : job.status, job.status === 'completed' && last?.status === 'ok');
  if (verdict) figure('fig-verdict', verdict.replaceAll('_', ' '), verdict === 'accepted');
  if (last) {
    figure('fig-exit', last.signal ?? String(last.exit_code ?? '–'));
    figure('fig-cpu', ms(last.cpu_ms));
    figure('fig-wall', ms(last.wall_ms));
    figure('fig-memory', bytes(last.memory_peak_bytes));
    figure('fig-oom', last.oom_killed ? 'yes' : 'no', !last.oom_killed);
  }
  const message = job.reason ?? last?.message;
  if (message) { $('message').hidden = false; $('message').textContent = message; }
  const counts = result.counts ? ` ${result.counts.accepted ?? 0}/${result.counts.total} tests accepted.` : '';
  say(`Finished: ${job.status}${verdict ? `, ${verdict.replaceAll('_', ' ')}` : last ? `, ${last.status.replaceAll('_', ' ')}` : ''}.${counts}`);
}

async function sendStdin(data, eof) {
  if (!state.jobId) return;
  const res = await fetch(`/v1/jobs/${state.jobId}/stdin`, { method: 'POST', headers: apiHeaders(true), body: JSON.stringify({ data, eof }) });
  if (!res.ok) say(`stdin: ${(await res.json()).error?.message ?? res.status}`);
}

async function cancel() {
  if (!state.jobId) return;
  await fetch(`/v1/jobs/${state.jobId}`, { method: 'DELETE', headers: apiHeaders() });
}

function wire() {
  $('run').addEventListener('click', run);
  $('key-form').addEventListener('submit', (e) => e.preventDefault());
  $('cancel').addEventListener('click', cancel);
  $('language').addEventListener('change', onLanguageChange);
  for (const radio of document.querySelectorAll('input[name=mode]')) radio.addEventListener('change', onModeChange);
  $('add-test').addEventListener('click', () => addTest().querySelector('textarea').focus());
  $('send').addEventListener('click', () => { sendStdin(`${$('send-line').value}\n`, false); $('send-line').value = ''; });
  $('send-eof').addEventListener('click', () => sendStdin('', true));
  $('send-line').addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.ctrlKey && !e.metaKey) { e.preventDefault(); $('send').click(); } });
  // Ctrl/Cmd+Enter runs from anywhere (the editor binds it too, before its own Enter handling).
  document.addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); } });
}

async function main() {
  wire();
  try { await loadLanguages(); } catch (error) { say(`Cannot list the languages: ${error.message}`); }
  setUpEditor();
  onModeChange();
  document.body.dataset.ready = 'true';
}

main();
