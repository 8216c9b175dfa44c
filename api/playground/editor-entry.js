// The playground's editor: CodeMirror 6 from npm, bundled by scripts/playground-build.mjs into
// dist/editor.js (served by runcell itself; nothing is loaded from the internet).
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { bracketMatching, defaultHighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { Compartment } from '@codemirror/state';
import { drawSelection, EditorView, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers } from '@codemirror/view';
import { cpp } from '@codemirror/lang-cpp';
import { go } from '@codemirror/lang-go';
import { java } from '@codemirror/lang-java';
import { javascript } from '@codemirror/lang-javascript';
import { python } from '@codemirror/lang-python';
import { rust } from '@codemirror/lang-rust';

// A small setup of our own: no auto-closing brackets or completion popups, and Tab is left to move focus.
const setup = [
  lineNumbers(),
  highlightActiveLineGutter(),
  highlightActiveLine(),
  history(),
  drawSelection(),
  indentOnInput(),
  bracketMatching(),
  syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
  keymap.of([...defaultKeymap, ...historyKeymap]),
];

const MODES = { c: cpp, cpp: cpp, cpp20: cpp, go, java, javascript, python3: python, rust };

function create(parent, { doc = '', language = '', label = 'Source code', onRun = () => {} } = {}) {
  const mode = new Compartment();
  const modeFor = (id) => (MODES[id] ? MODES[id]() : []);
  const view = new EditorView({
    parent,
    doc,
    extensions: [
      // Before the default keymap: Ctrl/Cmd+Enter runs instead of inserting a line.
      keymap.of([{ key: 'Mod-Enter', run: () => (onRun(), true) }]),
      setup,
      mode.of(modeFor(language)),
      EditorView.contentAttributes.of({ 'aria-label': label }),
    ],
  });
  return {
    getValue: () => view.state.doc.toString(),
    setValue: (text) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }),
    setLanguage: (id) => view.dispatch({ effects: mode.reconfigure(modeFor(id)) }),
    focus: () => view.focus(),
  };
}

window.RuncellEditor = { create };
