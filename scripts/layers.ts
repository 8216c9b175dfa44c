/**
 * The layers of runcell, as data, and the check of every import against them.
 * test/layers.test.ts runs it in the suite; `npx tsx scripts/layers.ts` prints
 * the offending edges alone (exit 1 when there are any).
 *
 *   api -> queue (Redis) <- worker -> sandbox;  contract/ under all of them;
 *   archive/ (hostile archives) under api/ and worker/, above contract/ alone.
 *
 * `import type` counts as an import: the layers are about the design, and a
 * type taken from a layer above is a dependency on it all the same.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export interface ImportEdge {
  /** Repository-relative path of the importing file, with '/' separators. */
  from: string;
  /** Repository-relative path of the imported file, or the package name (`zod`, `node:fs`). */
  to: string;
  line: number;
  /** Only types are imported (`import type`, `export type`, `typeof import(...)`, or every name marked `type`). */
  typeOnly: boolean;
  /** `to` is a file of this repository (else a package or a node builtin). */
  local: boolean;
}

export interface LayerRule {
  name: string;
  /** Top-level folders the rule applies to (the importing side). */
  from: string[];
  /** Folders these files must not import. */
  forbiddenFolders?: string[];
  /** When set, the only folders these files may import. */
  allowedFolders?: string[];
  /** Packages these files must not import. */
  forbiddenPackages?: string[];
  /** When set, the only packages these files may import (`zod` also admits `zod/...`). */
  allowedPackages?: string[];
}

const HTTP_AND_REDIS = ['express', 'express-rate-limit', 'ioredis', 'bullmq', 'http', 'https', 'node:http', 'node:https', 'node:http2'];

export const LAYER_RULES: LayerRule[] = [
  {
    name: 'api/ and queue/ never import worker/ or sandbox/',
    from: ['api', 'queue'],
    forbiddenFolders: ['worker', 'sandbox'],
  },
  {
    name: 'sandbox/ imports nothing above it (only sandbox/ and contract/), and nothing of HTTP or Redis',
    from: ['sandbox'],
    allowedFolders: ['sandbox', 'contract'],
    forbiddenPackages: HTTP_AND_REDIS,
  },
  {
    name: 'archive/ (the safe archive reader) imports only archive/ and contract/, and nothing of HTTP or Redis',
    from: ['archive'],
    allowedFolders: ['archive', 'contract'],
    forbiddenPackages: HTTP_AND_REDIS,
  },
  {
    name: 'contract/ imports nothing of runcell but contract/, and no package but zod',
    from: ['contract'],
    allowedFolders: ['contract'],
    allowedPackages: ['zod'],
  },
];

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SKIPPED = new Set(['node_modules', 'coverage', 'dist']);

/** Every .ts file under the repository's top-level folders (not node_modules, not dot folders). */
export function sourceFiles(root = ROOT): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.') || SKIPPED.has(entry.name)) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && entry.name.endsWith('.ts') && dir !== root) files.push(path);
    }
  };
  walk(root);
  return files.sort();
}

function posix(path: string): string {
  return path.split(sep).join('/');
}

/** `./x.js` written in a .ts file names ./x.ts (NodeNext resolution). */
function resolveLocal(file: string, specifier: string, root: string): string {
  const target = resolve(dirname(file), specifier);
  for (const candidate of [target.replace(/\.js$/, '.ts'), target, `${target}.ts`, join(target, 'index.ts')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return posix(relative(root, candidate));
  }
  return posix(relative(root, target));
}

function packageName(specifier: string): string {
  if (specifier.startsWith('node:')) return specifier;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function importIsTypeOnly(node: ts.ImportDeclaration): boolean {
  const clause = node.importClause;
  if (!clause) return false; // `import './x.js'`: run for its effects
  if (clause.isTypeOnly) return true;
  if (clause.name) return false;
  const bindings = clause.namedBindings;
  return !!bindings && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly);
}

/** Every import of one file: static imports, re-exports, `import()` calls and `typeof import()` types. */
export function importsOf(file: string, root = ROOT): ImportEdge[] {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const edges: ImportEdge[] = [];
  const add = (specifier: ts.Expression | undefined, typeOnly: boolean, node: ts.Node): void => {
    if (!specifier || !ts.isStringLiteralLike(specifier)) return;
    const local = specifier.text.startsWith('.');
    edges.push({
      from: posix(relative(root, file)),
      to: local ? resolveLocal(file, specifier.text, root) : packageName(specifier.text),
      line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1,
      typeOnly,
      local,
    });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) add(node.moduleSpecifier, importIsTypeOnly(node), node);
    else if (ts.isExportDeclaration(node)) add(node.moduleSpecifier, node.isTypeOnly, node);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal, true, node);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node.arguments[0], false, node);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, node.isTypeOnly, node);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

export function folderOf(path: string): string {
  return path.split('/')[0];
}

function breaks(rule: LayerRule, edge: ImportEdge): boolean {
  if (edge.local) {
    const folder = folderOf(edge.to);
    if (rule.forbiddenFolders?.includes(folder)) return true;
    return !!rule.allowedFolders && !rule.allowedFolders.includes(folder);
  }
  if (rule.forbiddenPackages?.includes(edge.to)) return true;
  return !!rule.allowedPackages && !rule.allowedPackages.includes(edge.to);
}

export interface Violation {
  rule: string;
  edge: ImportEdge;
}

export function layerViolations(edges: ImportEdge[], rules = LAYER_RULES): Violation[] {
  return rules.flatMap((rule) =>
    edges.filter((edge) => rule.from.includes(folderOf(edge.from)) && breaks(rule, edge)).map((edge) => ({ rule: rule.name, edge })),
  );
}

/** The import cycles between files: each strongly connected component of two or more files, or a file importing itself. */
export function importCycles(edges: ImportEdge[]): string[][] {
  const graph = new Map<string, Set<string>>();
  for (const edge of edges.filter((e) => e.local)) {
    if (!graph.has(edge.from)) graph.set(edge.from, new Set());
    if (!graph.has(edge.to)) graph.set(edge.to, new Set());
    graph.get(edge.from)!.add(edge.to);
  }
  // Tarjan's algorithm, iterative so a deep graph cannot overflow the stack.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  for (const start of [...graph.keys()].sort()) {
    if (index.has(start)) continue;
    const work: Array<{ node: string; next: Iterator<string> }> = [];
    const enter = (node: string): void => {
      index.set(node, counter);
      low.set(node, counter++);
      stack.push(node);
      onStack.add(node);
      work.push({ node, next: [...graph.get(node)!].sort()[Symbol.iterator]() });
    };
    enter(start);
    while (work.length > 0) {
      const top = work[work.length - 1];
      const step = top.next.next();
      if (!step.done) {
        const to = step.value;
        if (!index.has(to)) enter(to);
        else if (onStack.has(to)) low.set(top.node, Math.min(low.get(top.node)!, index.get(to)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1].node;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.node)!));
      }
      if (low.get(top.node) === index.get(top.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== top.node);
        if (component.length > 1 || graph.get(top.node)!.has(top.node)) components.push(component.sort());
      }
    }
  }
  return components.sort((a, b) => a[0].localeCompare(b[0]));
}

/** The edges that make up each cycle (both ends inside the same component). */
export function cycleEdges(edges: ImportEdge[], cycles: string[][]): ImportEdge[] {
  return cycles.flatMap((members) => edges.filter((e) => e.local && members.includes(e.from) && members.includes(e.to)));
}

export function describeEdge(edge: ImportEdge): string {
  return `${edge.from}:${edge.line} -> ${edge.to}${edge.typeOnly ? ' (types only)' : ''}`;
}

export function allImports(root = ROOT): ImportEdge[] {
  return sourceFiles(root).flatMap((file) => importsOf(file, root));
}

/** Every broken rule and every cycle, one line per offending import. */
export function report(edges: ImportEdge[]): string[] {
  const lines = layerViolations(edges).map((v) => `${v.rule}: ${describeEdge(v.edge)}`);
  for (const cycle of importCycles(edges)) {
    lines.push(`import cycle between ${cycle.join(', ')}:`);
    for (const edge of cycleEdges(edges, [cycle])) lines.push(`  ${describeEdge(edge)}`);
  }
  return lines;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const runtimeOnly = process.argv.includes('--runtime-only');
  const lines = report(allImports().filter((e) => !runtimeOnly || !e.typeOnly));
  for (const line of lines) console.log(line);
  console.log(lines.length === 0 ? 'layers: no offending import' : `layers: ${lines.length} offending line(s)`);
  process.exitCode = lines.length === 0 ? 0 : 1;
}
