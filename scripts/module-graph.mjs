// `node scripts/module-graph.mjs [--check] [--dot] [--top] [--why A B]`: the crate's file-level
// module dependency graph, and its cycles.
//
// Every `.rs` file under src/ (but src/bin/) is a node, named by its path and mapped to a module
// path by the file layout (src/lib.rs = crate, src/a.rs or src/a/mod.rs = crate::a, src/a/b.rs =
// crate::a::b). File F depends on file G when F names a path that resolves into G: a `use` path
// (groups, `self`, `super`, renames and globs included) or a qualified path in code
// (`crate::x::Y`, `super::f()`, `child::Z`). A path resolves to the file of its longest prefix
// that is a module file; paths into F itself, into other crates or into std are no edge, and
// `mod child;` is containment, not a dependency.
//
//   (default)    summary, then each strongly connected component of more than one file, with
//                the edges inside it and one path that causes each
//   --check      exit 1 if there is a cycle, else print a one-line summary
//   --dot        Graphviz dot of the whole graph (edges inside a cycle in red)
//   --top        collapse to top-level modules (crate::a); edges within one are ignored
//   --why A B    every path by which A depends on B (files, or modules with --top)
//
// Limits: this is a lexical analysis, not a compiler. Macros are not expanded (a path made by a
// macro, or written in a string such as `#[serde(with = "...")]`, is not seen); `#[cfg]` is
// ignored, so wasm-only and test-only code counts like any other; `#[path]` is not honoured;
// re-exports are not followed (naming `crate::error::AuthnError` is an edge to src/error.rs even
// if it is `pub use`d from elsewhere); and a name brought in by a `use` inside a function is
// treated as visible in its whole module.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const srcDir = path.join(repoRoot, "src");

// ---------------------------------------------------------------------------------------------
// Files and their module paths

/** Every .rs file under src/ except src/bin/, sorted, as repo-relative paths with `/`. */
function listSourceFiles(dir = srcDir) {
  const files = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && full !== path.join(srcDir, "bin")) files.push(...listSourceFiles(full));
    else if (entry.isFile() && entry.name.endsWith(".rs")) files.push(path.relative(repoRoot, full).split(path.sep).join("/"));
  }
  return files.sort();
}

/** `src/a/b.rs` -> ["crate", "a", "b"]; `src/lib.rs` -> ["crate"]; `src/a/mod.rs` -> ["crate", "a"]. */
function modulePathOf(file) {
  const parts = file.replace(/^src\//, "").replace(/\.rs$/, "").split("/");
  const last = parts.at(-1);
  if (last === "mod" || (parts.length === 1 && last === "lib")) parts.pop();
  return ["crate", ...parts];
}

// ---------------------------------------------------------------------------------------------
// Lexing: blank out comments and literals, then split into tokens

const isIdentChar = (c) => c !== undefined && /[\p{XID_Continue}]/u.test(c);

/** End of the comment starting at `i`, or -1. Block comments nest in Rust. */
function commentEnd(src, i) {
  if (src.startsWith("//", i)) {
    const nl = src.indexOf("\n", i);
    return nl < 0 ? src.length : nl;
  }
  if (!src.startsWith("/*", i)) return -1;
  let depth = 0;
  for (let j = i; j < src.length; j++) {
    if (src.startsWith("/*", j)) {
      depth++;
      j++;
    } else if (src.startsWith("*/", j)) {
      depth--;
      j++;
      if (depth === 0) return j + 1;
    }
  }
  return src.length;
}

const RAW_STRING_OPEN = /(?:b|c)?r(#*)"/y; // r"…", r#"…"#, br"…", cr"…"
const STRING_OPEN = /(?:b|c)?"/y; // "…", b"…", c"…"

/** End of the string literal (plain, byte, C or raw) starting at `i`, or -1. */
function stringEnd(src, i) {
  const atWordStart = !isIdentChar(src[i - 1]); // so that the `r` of `bar"` is no prefix
  RAW_STRING_OPEN.lastIndex = i;
  const raw = atWordStart && RAW_STRING_OPEN.exec(src);
  if (raw) {
    const close = src.indexOf(`"${raw[1]}`, i + raw[0].length);
    return close < 0 ? src.length : close + 1 + raw[1].length;
  }
  STRING_OPEN.lastIndex = i;
  const plain = (atWordStart || src[i] === '"') && STRING_OPEN.exec(src);
  if (!plain) return -1;
  for (let j = i + plain[0].length; j < src.length; j++) {
    if (src[j] === "\\") j++;
    else if (src[j] === '"') return j + 1;
  }
  return src.length;
}

/** End of the char literal starting at `i` (`'x'`, `'\n'`, `'\u{1F600}'`), or -1 for a lifetime. */
function charEnd(src, i) {
  if (src[i] !== "'") return -1;
  if (src[i + 1] === "\\") {
    const close = src.indexOf("'", i + 3);
    return close < 0 ? -1 : close + 1;
  }
  const cp = src.codePointAt(i + 1);
  if (cp === undefined || src[i + 1] === "'") return -1;
  const after = i + 1 + (cp > 0xffff ? 2 : 1);
  return src[after] === "'" ? after + 1 : -1;
}

/** The source with comments and string/char literals replaced by spaces (newlines kept). */
function stripCommentsAndLiterals(src) {
  const pieces = [];
  let plainFrom = 0;
  for (let i = 0; i < src.length; ) {
    const end = Math.max(commentEnd(src, i), stringEnd(src, i), charEnd(src, i));
    if (end < 0) {
      i++;
      continue;
    }
    pieces.push(src.slice(plainFrom, i), src.slice(i, end).replace(/[^\n]/g, " "));
    i = plainFrom = end;
  }
  pieces.push(src.slice(plainFrom));
  return pieces.join("");
}

const TOKEN = /(\s+)|r#([\p{XID_Start}_]\p{XID_Continue}*)|\$crate\b|(\$)?([\p{XID_Start}_]\p{XID_Continue}*)|(::)|([0-9]\w*)|(.)/gsu;

/** Tokens `{ text, kind: "ident" | "meta" | "punct", line }` of stripped source. */
function tokenize(code) {
  const tokens = [];
  let line = 1;
  for (const m of code.matchAll(TOKEN)) {
    const [all, space, rawIdent, meta, ident] = m;
    if (space) line += space.split("\n").length - 1;
    else if (rawIdent) tokens.push({ text: rawIdent, kind: "ident", line });
    else if (all === "$crate") tokens.push({ text: "crate", kind: "ident", line });
    else if (ident) tokens.push({ text: ident, kind: meta ? "meta" : "ident", line });
    else tokens.push({ text: all, kind: "punct", line });
  }
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Scanning a file: module scopes, `use` declarations, `mod` declarations, qualified paths

/**
 * One `use` tree flattened into paths: `use a::{b as c, d::*, self};` gives
 * `{ segs: [a, b], binding: c }`, `{ segs: [a, d], glob: true }`, `{ segs: [a], binding: a }`.
 * Returns the index after the tree.
 */
function parseUseTree(tokens, i, prefix, out) {
  const segs = [...prefix];
  if (tokens[i]?.text === "::") {
    segs.push("::"); // `use ::name` is an external crate
    i++;
  }
  for (;;) {
    const t = tokens[i];
    if (!t) return i;
    if (t.text === "{") return parseUseGroup(tokens, i + 1, segs, out);
    if (t.text === "*") {
      out.push({ segs, glob: true, line: t.line });
      return i + 1;
    }
    if (t.kind !== "ident") return i;
    const isGroupSelf = t.text === "self" && prefix.length > 0 && segs.length === prefix.length;
    if (!isGroupSelf) segs.push(t.text);
    i++;
    if (!isGroupSelf && tokens[i]?.text === "::") {
      i++;
      continue;
    }
    let binding = segs.at(-1);
    if (tokens[i]?.text === "as") {
      binding = tokens[i + 1]?.text;
      i += 2;
    }
    out.push({ segs, binding: binding === "_" ? null : binding, line: t.line });
    return i;
  }
}

function parseUseGroup(tokens, i, prefix, out) {
  while (i < tokens.length && tokens[i].text !== "}") {
    const next = parseUseTree(tokens, i, prefix, out);
    i = tokens[next]?.text === "," ? next + 1 : Math.max(next, i + 1);
  }
  return i + 1;
}

const isPathStart = (tokens, i) =>
  tokens[i].kind === "ident" &&
  tokens[i + 1]?.text === "::" &&
  tokens[i + 2]?.kind === "ident" &&
  tokens[i - 1]?.text !== "::" && // the middle of a path, or a `::global` path
  tokens[i].text !== "Self" &&
  !(tokens[i - 1]?.text === "in" && tokens[i - 2]?.text === "(") && // `pub(in crate::a)`
  tokens[i - 1]?.kind !== "meta";

/** Collects `a::b::c` from `i`; returns `{ segs, end }`. */
function readPath(tokens, i) {
  const segs = [tokens[i].text];
  let j = i + 1;
  while (tokens[j]?.text === "::" && tokens[j + 1]?.kind === "ident") {
    segs.push(tokens[j + 1].text);
    j += 2;
  }
  return { segs, end: j };
}

/**
 * Walks one file's tokens. Returns its module scopes (the file's and its inline `mod x { }`
 * blocks), the `mod x;` items it declares, and every reference: `{ scope, segs, line, text }`.
 */
function scanFile(file, tokens) {
  const fileSegs = modulePathOf(file);
  const scopes = new Map();
  const openScope = (segs) => {
    const key = segs.join("::");
    if (!scopes.has(key)) scopes.set(key, { key, segs, file, aliases: new Map(), globs: [] });
    return scopes.get(key);
  };
  const stack = [{ scope: openScope(fileSegs), depth: 0 }];
  const declared = [];
  const refs = [];
  let depth = 0;
  for (let i = 0; i < tokens.length; ) {
    const t = tokens[i];
    const scope = stack.at(-1).scope;
    if (t.text === "{") depth++;
    else if (t.text === "}" && --depth === stack.at(-1).depth && stack.length > 1) stack.pop();
    if (t.text === "mod" && tokens[i + 1]?.kind === "ident") {
      const name = tokens[i + 1].text;
      if (tokens[i + 2]?.text === ";") declared.push([...scope.segs, name].join("::"));
      if (tokens[i + 2]?.text === "{") stack.push({ scope: openScope([...scope.segs, name]), depth });
      i += 2;
    } else if (t.text === "use") {
      i = scanUse(tokens, i + 1, scope, refs);
    } else if (isPathStart(tokens, i)) {
      const { segs, end } = readPath(tokens, i);
      refs.push({ scope, segs, line: t.line, text: segs.join("::") });
      i = end;
    } else i++;
  }
  return { scopes, declared, refs };
}

/** Records one `use` declaration in `scope` (names it binds, globs) and in `refs`. */
function scanUse(tokens, i, scope, refs) {
  const paths = [];
  let end = parseUseTree(tokens, i, [], paths);
  while (end < tokens.length && tokens[end].text !== ";") end++;
  for (const p of paths) {
    if (p.glob) scope.globs.push(p);
    else if (p.binding) scope.aliases.set(p.binding, [...(scope.aliases.get(p.binding) ?? []), p]);
    refs.push({ scope, segs: p.segs, line: p.line, text: p.segs.join("::") + (p.glob ? "::*" : "") });
  }
  return end + 1;
}

// ---------------------------------------------------------------------------------------------
// Resolution

/** Resolves `segs`, written in `scope`, to an absolute path (["crate", ...]), or null. */
function resolvePath(crate, scope, segs, seen = new Set()) {
  const [head, ...rest] = segs;
  if (head === "crate") return segs;
  if (head === "::") return null;
  if (head === "self") return [...scope.segs, ...rest];
  if (head === "super") {
    const base = [...scope.segs];
    let k = 0;
    for (; segs[k] === "super"; k++) if (base.pop() === undefined || base.length === 0) return null;
    return [...base, ...segs.slice(k)];
  }
  const target = lookupName(crate, scope.segs, head, seen);
  return target && [...target, ...rest];
}

/**
 * What a bare name means in the module `moduleSegs`: something a `use` there binds, a child
 * module, or something a glob import there brings in. Null for anything outside the crate.
 */
function lookupName(crate, moduleSegs, name, seen) {
  const key = moduleSegs.join("::");
  if (seen.has(`${key} ${name}`)) return null;
  seen.add(`${key} ${name}`);
  const scope = crate.scopes.get(key);
  const uses = scope?.aliases.get(name);
  if (uses) {
    for (const use of uses) {
      const target = resolvePath(crate, scope, use.segs, seen);
      if (target) return target;
    }
    return null;
  }
  if (crate.modules.has(`${key}::${name}`)) return [...moduleSegs, name];
  for (const glob of scope?.globs ?? []) {
    const from = resolvePath(crate, scope, glob.segs, seen);
    const found = from && lookupName(crate, from, name, seen);
    if (found) return found;
  }
  return null;
}

/** The file of the longest prefix of `absSegs` that is a module file. */
function fileOfPath(crate, absSegs) {
  for (let k = absSegs.length; k > 0; k--) {
    const file = crate.fileByModule.get(absSegs.slice(0, k).join("::"));
    if (file) return file;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// The graph

/**
 * Reads and scans the crate. Returns `{ nodes, edges, orphans }`, where `edges` maps
 * from -> to -> examples `[{ file, line, text }]`, sorted by line.
 */
function buildFileGraph() {
  const files = listSourceFiles();
  const crate = { scopes: new Map(), modules: new Set(), fileByModule: new Map() };
  for (const file of files) crate.fileByModule.set(modulePathOf(file).join("::"), file);
  const scans = files.map((file) => {
    const scan = scanFile(file, tokenize(stripCommentsAndLiterals(readFileSync(path.join(repoRoot, file), "utf8"))));
    for (const [key, scope] of scan.scopes) mergeScope(crate.scopes, key, scope);
    return { file, ...scan };
  });
  for (const key of [...crate.fileByModule.keys(), ...crate.scopes.keys()]) crate.modules.add(key);

  const edges = new Map(files.map((file) => [file, new Map()]));
  for (const { file, refs } of scans) {
    for (const ref of refs) {
      const abs = resolvePath(crate, crate.scopes.get(ref.scope.key), ref.segs);
      const target = abs && fileOfPath(crate, abs);
      if (!target || target === file) continue;
      const out = edges.get(file);
      if (!out.has(target)) out.set(target, []);
      out.get(target).push({ file, line: ref.line, text: ref.text });
    }
  }
  const declared = new Set(scans.flatMap((s) => s.declared));
  const orphans = files.filter((f) => f !== "src/lib.rs" && !declared.has(modulePathOf(f).join("::")));
  return { nodes: files, edges, orphans };
}

/** Two inline `mod x { }` blocks of the same name (under different `#[cfg]`s) share a scope. */
function mergeScope(scopes, key, scope) {
  const existing = scopes.get(key);
  if (!existing) return scopes.set(key, scope);
  for (const [name, uses] of scope.aliases) existing.aliases.set(name, [...(existing.aliases.get(name) ?? []), ...uses]);
  existing.globs.push(...scope.globs);
}

/** The graph collapsed to top-level modules (`crate::a`); edges inside one are dropped. */
function collapseToTopLevel(graph) {
  const topOf = (file) => modulePathOf(file).slice(0, 2).join("::");
  const nodes = [...new Set(graph.nodes.map(topOf))].sort();
  const edges = new Map(nodes.map((n) => [n, new Map()]));
  for (const [from, outs] of graph.edges) {
    for (const [to, examples] of outs) {
      const [a, b] = [topOf(from), topOf(to)];
      if (a === b) continue;
      const out = edges.get(a);
      out.set(b, [...(out.get(b) ?? []), ...examples]);
    }
  }
  return { nodes, edges, orphans: graph.orphans };
}

const edgeCount = (graph) => [...graph.edges.values()].reduce((n, outs) => n + outs.size, 0);

/** Tarjan's strongly connected components of more than one node, each sorted, sorted by first node. */
function cycles(graph) {
  const index = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const components = [];
  const visit = (v) => {
    index.set(v, index.size);
    low.set(v, index.get(v));
    stack.push(v);
    onStack.add(v);
    for (const w of [...graph.edges.get(v).keys()].sort()) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), index.get(w)));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1) components.push(component.sort());
  };
  for (const v of graph.nodes) if (!index.has(v)) visit(v);
  return components.sort((a, b) => a[0].localeCompare(b[0]));
}

// ---------------------------------------------------------------------------------------------
// Reports

const sortedEdges = (graph, from) => [...graph.edges.get(from)].sort(([a], [b]) => a.localeCompare(b));

const byLine = (a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.text.localeCompare(b.text);

/** `src/x.rs -> src/y.rs (crate::y::Z)`; at the top level the example says which file it is in. */
function describeEdge(from, to, examples, top) {
  const first = [...examples].sort(byLine)[0];
  return `${from} -> ${to} (${top ? `${first.file}: ` : ""}${first.text})`;
}

function summary(graph, unit) {
  return `module graph: ${graph.nodes.length} ${unit}, ${edgeCount(graph)} edges`;
}

function printCycles(graph, top) {
  const unit = top ? "modules" : "files";
  const found = cycles(graph);
  console.log(`${summary(graph, unit)}, ${found.length ? `${found.length} cycle(s)` : "no cycles"}`);
  for (const orphan of graph.orphans) console.log(`note: ${orphan} is not declared by any \`mod\` item`);
  found.forEach((component, n) => {
    const members = new Set(component);
    console.log(`\ncycle ${n + 1}: ${component.length} ${unit}`);
    for (const node of component) console.log(`  ${node}`);
    console.log("  edges:");
    for (const from of component) {
      for (const [to, examples] of sortedEdges(graph, from)) {
        if (members.has(to)) console.log(`    ${describeEdge(from, to, examples, top)}`);
      }
    }
  });
}

function printDot(graph) {
  const inCycle = new Map(cycles(graph).flatMap((c, n) => c.map((node) => [node, n])));
  console.log("digraph modules {\n  rankdir=LR;\n  node [shape=box, fontname=monospace];");
  for (const node of graph.nodes) console.log(`  "${node}";`);
  for (const from of graph.nodes) {
    for (const [to] of sortedEdges(graph, from)) {
      const cyclic = inCycle.has(from) && inCycle.get(from) === inCycle.get(to);
      console.log(`  "${from}" -> "${to}"${cyclic ? " [color=red]" : ""};`);
    }
  }
  console.log("}");
}

/** A node named by its path (relative to the repo or the working directory) or module path. */
function findNode(graph, name, top) {
  const asFile = path.relative(repoRoot, path.resolve(name)).split(path.sep).join("/");
  const candidates = top
    ? [name, `crate::${name}`, modulePathOf(asFile.replace(/\/$/, "")).slice(0, 2).join("::")]
    : [name, asFile, ...graph.nodes.filter((f) => modulePathOf(f).join("::") === name)];
  const found = candidates.find((c) => graph.edges.has(c));
  if (!found) fail(`no such ${top ? "module" : "file"}: ${name}`);
  return found;
}

function printWhy(graph, a, b, top) {
  const [from, to] = [findNode(graph, a, top), findNode(graph, b, top)];
  const examples = graph.edges.get(from).get(to);
  if (!examples) {
    console.log(`${from} does not depend on ${to}`);
    process.exit(1);
  }
  for (const ex of [...examples].sort(byLine)) console.log(`${ex.file}:${ex.line}: ${ex.text}`);
}

function fail(message) {
  console.error(`module-graph: ${message}`);
  process.exit(2);
}

function main(args) {
  const flags = new Set(args.filter((a) => a.startsWith("--")));
  const known = ["--check", "--dot", "--top", "--why"];
  for (const flag of flags) if (!known.includes(flag)) fail(`unknown flag ${flag} (known: ${known.join(" ")})`);
  const top = flags.has("--top");
  const fileGraph = buildFileGraph();
  const graph = top ? collapseToTopLevel(fileGraph) : fileGraph;
  if (flags.has("--why")) {
    const operands = args.slice(args.indexOf("--why") + 1).filter((a) => !a.startsWith("--"));
    if (operands.length !== 2) fail("--why takes two operands: --why A B");
    return printWhy(graph, operands[0], operands[1], top);
  }
  if (flags.has("--dot")) return printDot(graph);
  if (flags.has("--check")) {
    const found = cycles(graph);
    if (found.length === 0) return console.log(`${summary(graph, top ? "modules" : "files")}, no cycles`);
    printCycles(graph, top);
    process.exit(1);
  }
  printCycles(graph, top);
}

main(process.argv.slice(2));
