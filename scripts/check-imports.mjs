#!/usr/bin/env node
// The import rules of the TypeScript code, checked from the code's own import statements:
//
//   primitives/  <-  keys/  <-  codecs/  <-  src/config/  <-  src/server/  <-  src/cli/
//                    keys/admin/ (key-file writers, locks, rotation, usage reports, retire rules)
//
// A file may import its own layer and the layers to its left. keys/admin/ stands beside the
// runtime: it may use keys/ and primitives/, and only the CLI may use it, so nothing a worker or
// the codec server loads can reach the code that rewrites key files. The CLI reaches the server
// only through src/server/index.ts. No circles anywhere, type-only imports included (a circle of
// types is still two files that cannot be understood one without the other). An import whose
// module is an expression is refused: the check could not see where it goes.
//
//   node scripts/check-imports.mjs [--root DIR] [--admin FILE,FILE…] [--json]
//
// --root checks another checkout (e.g. an older commit unpacked with `git archive`); --admin names
// files of that checkout to count as admin code where it predates keys/admin/. Exits 1 on any finding.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const LAYERS = [
  { name: 'primitives', dir: 'primitives/', rank: 0 },
  { name: 'keys/admin', dir: 'keys/admin/', rank: 1, admin: true },
  { name: 'keys', dir: 'keys/', rank: 1 },
  { name: 'codecs', dir: 'codecs/', rank: 2 },
  { name: 'src/config', dir: 'src/config/', rank: 3 },
  { name: 'src/server', dir: 'src/server/', rank: 4, entry: 'src/server/index.ts' },
  { name: 'src/cli', dir: 'src/cli/', rank: 5, mayUseAdmin: true },
];
const ROOTS = ['primitives', 'keys', 'codecs', 'src'];
// Other languages' codecs live under codecs/ too; they are not part of this graph.
const SKIP = ['codecs/go/', 'codecs/python/'];
const EXTENSIONS = ['.ts', '.cts', '.mts', '.cjs', '.mjs', '.js'];

function parseArgs(argv) {
  const out = { root: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'), admin: new Set(), json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--root') out.root = path.resolve(argv[++i] ?? '.');
    else if (a === '--admin') for (const f of (argv[++i] ?? '').split(',').filter(Boolean)) out.admin.add(f);
    else if (a === '--json') out.json = true;
    else {
      console.error(`check-imports: unknown argument ${JSON.stringify(a)}`);
      process.exit(2);
    }
  }
  return out;
}

function listFiles(root) {
  const files = [];
  const walk = (rel) => {
    const abs = path.join(root, rel);
    if (!existsSync(abs)) return;
    for (const name of readdirSync(abs)) {
      const child = rel === '' ? name : `${rel}/${name}`;
      if (name === 'node_modules' || SKIP.some((s) => `${child}/`.startsWith(s))) continue;
      if (statSync(path.join(root, child)).isDirectory()) walk(child);
      else if (EXTENSIONS.some((e) => name.endsWith(e)) && !/\.test\.[cm]?[jt]s$/.test(name)) files.push(child);
    }
  };
  for (const r of ROOTS) walk(r);
  return files.sort();
}

/** Every module specifier a file names: static imports and exports, import(), require(), import types. */
function specifiersOf(file, text) {
  const kind = file.endsWith('.ts') || file.endsWith('.cts') || file.endsWith('.mts') ? ts.ScriptKind.TS : ts.ScriptKind.JS;
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const found = [];
  const hidden = [];
  const literal = (node) => (node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) ? node.text : undefined);
  const line = (node) => source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      found.push({ specifier: literal(node.moduleSpecifier), line: line(node) });
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      found.push({ specifier: literal(node.moduleReference.expression), line: line(node) });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      found.push({ specifier: literal(node.argument.literal), line: line(node) });
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const isImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(callee) && callee.text === 'require';
      if (isImport || isRequire) {
        const s = literal(node.arguments[0]);
        if (s === undefined) hidden.push({ line: line(node), text: node.getText(source).slice(0, 80) });
        else found.push({ specifier: s, line: line(node) });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { found: found.filter((f) => f.specifier !== undefined), hidden };
}

function resolve(root, from, specifier) {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
  const candidates = [];
  const ext = path.posix.extname(base);
  if (ext === '.js') candidates.push(`${base.slice(0, -3)}.ts`, base);
  else if (ext === '.cjs') candidates.push(base, `${base.slice(0, -4)}.cts`);
  else if (ext === '.mjs') candidates.push(base, `${base.slice(0, -4)}.mts`);
  else if (ext === '') candidates.push(`${base}.ts`, `${base}/index.ts`, `${base}.js`);
  else candidates.push(base);
  return candidates.find((c) => existsSync(path.join(root, c)) && statSync(path.join(root, c)).isFile());
}

function layerOf(file, admin) {
  if (admin.has(file)) return LAYERS.find((l) => l.admin);
  return LAYERS.find((l) => file.startsWith(l.dir));
}

/** Strongly connected components of more than one file, or a file importing itself (Tarjan). */
function circles(graph) {
  let index = 0;
  const stack = [];
  const meta = new Map();
  const out = [];
  const strong = (v) => {
    meta.set(v, { index, low: index, onStack: true });
    index++;
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!meta.has(w)) {
        strong(w);
        meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).low);
      } else if (meta.get(w).onStack) {
        meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).index);
      }
    }
    if (meta.get(v).low === meta.get(v).index) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        meta.get(w).onStack = false;
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? new Set()).has(v)) out.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!meta.has(v)) strong(v);
  return out;
}

export function checkImports({ root, admin = new Set() }) {
  const files = listFiles(root);
  const graph = new Map(files.map((f) => [f, new Set()]));
  const report = { root, files: files.length, imports: 0, circles: [], upward: [], adminFromRuntime: [], intoServer: [], hidden: [], unresolved: [], outsideLayers: [] };
  for (const file of files) {
    const from = layerOf(file, admin);
    if (from === undefined) report.outsideLayers.push(file);
    const { found, hidden } = specifiersOf(file, readFileSync(path.join(root, file), 'utf8'));
    for (const h of hidden) report.hidden.push({ file, line: h.line, text: h.text });
    for (const { specifier, line } of found) {
      if (!specifier.startsWith('.')) continue; // a package or node: built-in
      const target = resolve(root, file, specifier);
      if (target === undefined) {
        // Only a name inside the checked folders must exist; above them lie package.json and the
        // like, which a built copy finds at another depth.
        const named = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
        if (ROOTS.some((r) => named.startsWith(`${r}/`))) report.unresolved.push({ file, line, specifier });
        continue;
      }
      if (!graph.has(target)) continue; // outside the checked folders (package.json, say)
      report.imports++;
      graph.get(file).add(target);
      const to = layerOf(target, admin);
      if (from === undefined || to === undefined) continue;
      const edge = { from: file, to: target, line, layers: `${from.name} -> ${to.name}` };
      if (to.rank > from.rank) report.upward.push(edge);
      if (to.admin && !from.admin && !from.mayUseAdmin) report.adminFromRuntime.push(edge);
      if (to.entry !== undefined && from !== to && target !== to.entry) report.intoServer.push(edge);
    }
  }
  report.circles = circles(graph).map((component) => ({
    files: component,
    edges: component.flatMap((a) => [...graph.get(a)].filter((b) => component.includes(b)).map((b) => `${a} -> ${b}`)),
  }));
  report.findings = report.circles.length + report.upward.length + report.adminFromRuntime.length + report.intoServer.length + report.hidden.length + report.unresolved.length + report.outsideLayers.length;
  return report;
}

function print(report) {
  const lines = [
    `import check of ${report.root}: ${report.files} files, ${report.imports} imports between them`,
    `  circles: ${report.circles.length}`,
    ...report.circles.flatMap((c, i) => [`    circle ${i + 1} (${c.files.length} files):`, ...c.edges.map((e) => `      ${e}`)]),
    `  upward imports (against primitives <- keys <- codecs <- src/config <- src/server <- src/cli): ${report.upward.length}`,
    ...report.upward.map((e) => `    ${e.from}:${e.line} -> ${e.to}  (${e.layers})`),
    `  runtime imports of admin code: ${report.adminFromRuntime.length}`,
    ...report.adminFromRuntime.map((e) => `    ${e.from}:${e.line} -> ${e.to}`),
    `  imports into src/server past src/server/index.ts: ${report.intoServer.length}`,
    ...report.intoServer.map((e) => `    ${e.from}:${e.line} -> ${e.to}`),
    `  imports of a module named by an expression: ${report.hidden.length}`,
    ...report.hidden.map((h) => `    ${h.file}:${h.line}: ${h.text}`),
    `  relative imports that name no file: ${report.unresolved.length}`,
    ...report.unresolved.map((u) => `    ${u.file}:${u.line}: ${u.specifier}`),
    `  files outside every layer: ${report.outsideLayers.length}`,
    ...report.outsideLayers.map((f) => `    ${f}`),
  ];
  console.log(lines.join('\n'));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = parseArgs(process.argv.slice(2));
  const report = checkImports(args);
  if (args.json) console.log(JSON.stringify(report, null, 2));
  else print(report);
  process.exitCode = report.findings === 0 ? 0 : 1;
}
