/**
 * Which parts of `shared/` may import which. The engine (corpus → answer, engine.ts) is what teams run over their own
 * documents and what every lesson builds on; it must load without the lab harness, the HTTP service, the load tests,
 * the benchmarks or the metrics. `shared/util` sits under everything, so it must not pull in the harness or the
 * service either.
 *
 *     const { violations } = checkBoundaries(REPO_ROOT);
 *     for (const v of violations) console.log(formatViolation(v));
 *     // shared/index/bm25.ts:3 imports '../lab/runner.ts' → shared/lab/runner.ts (engine code must not import shared/lab)
 *
 * Import specifiers are read with TypeScript's own pre-processor (`import … from`, `export … from`, `import '…'`,
 * dynamic `import('…')`, `require('…')`), so comments and strings that merely look like imports are not counted.
 * Relative specifiers are resolved and followed: a file the engine imports that itself imports the harness is a
 * violation too, reported with the chain of imports that leads there. Package imports are not checked.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

export interface BoundaryRule {
  /** Named in the failure message: "engine code must not import shared/lab". */
  name: string;
  /** Files and folders (relative to the root, `/`-separated) whose imports the rule checks. */
  from: string[];
  /** Files and folders those may not import, directly or through other files. */
  forbidden: string[];
}

const HARNESS = ['shared/lab', 'shared/serve', 'shared/loadtest'];

export const BOUNDARY_RULES: BoundaryRule[] = [
  {
    name: 'engine code',
    from: [
      'shared/corpus',
      'shared/text',
      'shared/embed',
      'shared/index',
      'shared/retrieve',
      'shared/answer',
      'shared/engine.ts',
      'shared/types.ts',
      'shared/errors.ts',
    ],
    forbidden: [...HARNESS, 'shared/bench', 'shared/observe'],
  },
  { name: 'shared/util', from: ['shared/util'], forbidden: HARNESS },
];

export interface ImportEdge {
  /** The importing file, relative to the root. */
  file: string;
  /** 1-based line of the specifier. */
  line: number;
  specifier: string;
  /** The resolved target, relative to the root. */
  target: string;
}

export interface Violation {
  rule: string;
  /** The forbidden file or folder reached. */
  forbidden: string;
  /** The imports from the checked file to the forbidden target; one edge for a direct import. */
  chain: ImportEdge[];
}

export interface BoundaryReport {
  /** Every checked file, relative to the root. */
  checked: string[];
  /** `from` entries of the rules that do not exist under the root (a renamed folder would silently pass). */
  missing: string[];
  violations: Violation[];
}

const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/;

/** Checks every file under each rule's `from` entries against its forbidden targets. */
export function checkBoundaries(root: string, rules: BoundaryRule[] = BOUNDARY_RULES): BoundaryReport {
  const absRoot = resolve(root);
  const edgesCache = new Map<string, ImportEdge[]>();
  const edgesOf = (file: string): ImportEdge[] => {
    let edges = edgesCache.get(file);
    if (edges === undefined) {
      edges = readImports(absRoot, file);
      edgesCache.set(file, edges);
    }
    return edges;
  };
  const checked = new Set<string>();
  const missing: string[] = [];
  // a forbidden import reached from many checked files is reported once, by the shortest chain to it
  const violations = new Map<string, Violation>();

  for (const rule of rules) {
    for (const entry of rule.from) {
      const abs = join(absRoot, entry);
      if (!existsSync(abs)) {
        missing.push(entry);
        continue;
      }
      for (const file of sourceFiles(abs)) {
        const rel = toRel(absRoot, file);
        checked.add(rel);
        for (const v of followImports(rel, rule, edgesOf)) {
          const last = v.chain[v.chain.length - 1];
          const key = `${rule.name}|${last.file}:${last.line}|${last.specifier}`;
          const known = violations.get(key);
          if (known === undefined || v.chain.length < known.chain.length) violations.set(key, v);
        }
      }
    }
  }
  return { checked: [...checked].sort(), missing, violations: [...violations.values()] };
}

/** "shared/engine.ts:12 imports './eval/x.ts' → shared/eval/x.ts:3 imports '../lab/y.ts' → shared/lab/y.ts (…)". */
export function formatViolation(v: Violation): string {
  const hops = v.chain.map((e) => `${e.file}:${e.line} imports '${e.specifier}'`).join(' → ');
  return `${hops} → ${v.chain[v.chain.length - 1].target} (${v.rule} must not import ${v.forbidden})`;
}

/** Depth-first over relative imports from `start`; one violation per forbidden target first reached by a path. */
function followImports(start: string, rule: BoundaryRule, edgesOf: (file: string) => ImportEdge[]): Violation[] {
  const out: Violation[] = [];
  const seen = new Set<string>([start]);
  const walk = (file: string, chain: ImportEdge[]) => {
    for (const edge of edgesOf(file)) {
      const path = [...chain, edge];
      const forbidden = rule.forbidden.find((f) => edge.target === f || edge.target.startsWith(`${f}/`));
      if (forbidden !== undefined) {
        out.push({ rule: rule.name, forbidden, chain: path });
        continue;
      }
      if (seen.has(edge.target) || edge.target.startsWith('../') || !SOURCE.test(edge.target)) continue;
      seen.add(edge.target);
      walk(edge.target, path);
    }
  };
  walk(start, []);
  return out;
}

/** The relative (and absolute) imports of one file, resolved to files relative to the root. */
function readImports(absRoot: string, relFile: string): ImportEdge[] {
  const abs = join(absRoot, relFile);
  if (!existsSync(abs)) return [];
  const text = readFileSync(abs, 'utf8');
  const { importedFiles } = ts.preProcessFile(text, true, true);
  const edges: ImportEdge[] = [];
  for (const ref of importedFiles) {
    const specifier = ref.fileName;
    if (!specifier.startsWith('.') && !isAbsolute(specifier)) continue; // a package
    const target = resolveModule(resolve(dirname(abs), specifier));
    edges.push({ file: relFile, line: lineOf(text, ref.pos), specifier, target: toRel(absRoot, target) });
  }
  return edges;
}

/** The file a specifier names: as written, `.js` written for a `.ts` file, without extension, or a folder's index. */
function resolveModule(abs: string): string {
  const candidates = [abs, abs.replace(/\.(m|c)?js$/, '.$1ts'), `${abs}.ts`, join(abs, 'index.ts')];
  return candidates.find((c) => existsSync(c) && statSync(c).isFile()) ?? abs;
}

function sourceFiles(abs: string): string[] {
  if (statSync(abs).isFile()) return SOURCE.test(abs) ? [abs] : [];
  const out: string[] = [];
  for (const entry of readdirSync(abs, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const path = join(abs, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (SOURCE.test(entry.name)) out.push(path);
  }
  return out.sort();
}

function toRel(absRoot: string, abs: string): string {
  return relative(absRoot, abs).split(sep).join('/');
}

function lineOf(text: string, pos: number): number {
  let line = 1;
  for (let i = 0; i < pos; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
