/**
 * A small reader for V8 CPU profiles (the `.cpuprofile` files `node --cpu-prof` writes, the same format Chrome
 * DevTools loads). It answers one question: which functions was the CPU in?
 *
 * The format: `nodes` is the call tree (each node one function at one call path, with `children` ids), `samples[i]`
 * is the node that was on top of the stack at sample i, and `timeDeltas[i]` the µs since the previous sample. So:
 *
 * - self time of a function = the time of the samples whose top node is that function (where the CPU actually was);
 * - total time = the time of the samples with that function anywhere on the stack (itself plus what it called).
 *
 * Nodes are grouped by function (name + file + line), because one function appears at many call paths.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Resolver } from './sourcemaps.ts';

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber?: number; scriptId?: string };
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  /** Function name, '(anonymous)' for an unnamed one; V8's own entries keep their names: '(garbage collector)'... */
  name: string;
  /** 'shared/text/tokenize.ts:13' (relative to `root`), 'node:internal/...', or '' for V8 entries. */
  location: string;
  selfMs: number;
  totalMs: number;
  selfShare: number;
  totalShare: number;
}

export interface ProfileSummary {
  /** Sampled time in ms (the sum of every sample's time). */
  sampledMs: number;
  samples: number;
  /** Every function, most self time first. */
  functions: FunctionTime[];
  /**
   * The heaviest call path: from the root, always into the child with the most total time, as function labels
   * ('name  location'). Read it top-down: where the caller spent its time.
   */
  hotPath: Array<{ label: string; totalShare: number }>;
}

export interface SummaryOptions {
  /** Paths under it are printed relative to it (e.g. the repository root). */
  root?: string;
  /** Maps compiled positions back to the TypeScript source (see sourcemaps.ts). */
  resolve?: Resolver;
}

export function readCpuProfile(file: string): CpuProfile {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  if (!Array.isArray(p.nodes) || !Array.isArray(p.samples) || !Array.isArray(p.timeDeltas)) {
    throw new Error(`${file} is not a V8 CPU profile (needs nodes, samples and timeDeltas)`);
  }
  return p;
}

function shortPath(url: string, root: string | undefined): string {
  if (!url.startsWith('file://')) return url;
  const path = fileURLToPath(url);
  return root !== undefined && path.startsWith(root) ? relative(root, path) : path;
}

/** Function name and 'file:line' of a call frame, mapped to the TypeScript source when a resolver knows the file. */
export function frameLabel(frame: CpuProfileNode['callFrame'], opts: SummaryOptions = {}): { name: string; location: string } {
  const { functionName, url, lineNumber, columnNumber } = frame;
  if (url === '') return { name: functionName || '(anonymous)', location: '' };
  const r = opts.resolve?.(url, lineNumber, columnNumber ?? 0);
  const name = functionName || (r?.inferredName !== undefined ? `${r.inferredName} (arrow)` : '(anonymous)');
  return { name, location: `${shortPath(url, opts.root)}:${(r?.line ?? lineNumber) + 1}` };
}

/**
 * Self and total time per function. Sample i is charged the time until the next sample (`timeDeltas[i + 1]`; the
 * last sample gets the mean interval), which is what DevTools does.
 */
export function summarizeCpuProfile(profile: CpuProfile, opts: SummaryOptions = {}): ProfileSummary {
  const { nodes, samples, timeDeltas } = profile;
  const parent = new Map<number, number>();
  for (const n of nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = new Map<number, string>();
  const fns = new Map<string, FunctionTime>();
  for (const n of nodes) {
    const { name, location } = frameLabel(n.callFrame, opts);
    const key = `${name}\u0000${location}`;
    keyOf.set(n.id, key);
    if (!fns.has(key)) fns.set(key, { name, location, selfMs: 0, totalMs: 0, selfShare: 0, totalShare: 0 });
  }

  const n = samples.length;
  const meanDelta = n > 1 ? (profile.endTime - profile.startTime) / n : 0;
  const nodeSelfUs = new Map<number, number>();
  let sampledUs = 0;
  for (let i = 0; i < n; i++) {
    const us = i + 1 < n ? Math.max(0, timeDeltas[i + 1]) : meanDelta;
    sampledUs += us;
    const top = samples[i];
    nodeSelfUs.set(top, (nodeSelfUs.get(top) ?? 0) + us);
    const topKey = keyOf.get(top);
    if (topKey === undefined) continue;
    fns.get(topKey)!.selfMs += us / 1000;
    // Total: every distinct function on the stack once (recursion must not count twice).
    const seen = new Set<string>();
    for (let id: number | undefined = top; id !== undefined; id = parent.get(id)) {
      const key = keyOf.get(id)!;
      if (seen.has(key)) continue;
      seen.add(key);
      fns.get(key)!.totalMs += us / 1000;
    }
  }
  const sampledMs = sampledUs / 1000;
  const functions = [...fns.values()]
    .filter((f) => f.totalMs > 0)
    .map((f) => ({ ...f, selfShare: sampledMs > 0 ? f.selfMs / sampledMs : 0, totalShare: sampledMs > 0 ? f.totalMs / sampledMs : 0 }))
    .sort((a, b) => b.selfMs - a.selfMs || b.totalMs - a.totalMs);
  return { sampledMs, samples: n, functions, hotPath: heaviestPath(nodes, nodeSelfUs, sampledUs, keyOf) };
}

function heaviestPath(
  nodes: CpuProfileNode[],
  nodeSelfUs: Map<number, number>,
  sampledUs: number,
  keyOf: Map<number, string>,
): ProfileSummary['hotPath'] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const totalUs = new Map<number, number>();
  const total = (id: number): number => {
    let t = totalUs.get(id);
    if (t !== undefined) return t;
    t = nodeSelfUs.get(id) ?? 0;
    for (const c of byId.get(id)?.children ?? []) t += total(c);
    totalUs.set(id, t);
    return t;
  };
  const path: ProfileSummary['hotPath'] = [];
  if (nodes.length === 0 || sampledUs === 0) return path;
  let node: CpuProfileNode | undefined = nodes[0]; // V8 writes the root first
  while (node !== undefined) {
    const label = keyOf.get(node.id)!.replace('\u0000', '  ').trimEnd();
    if (label !== '(root)') path.push({ label, totalShare: total(node.id) / sampledUs });
    let best: CpuProfileNode | undefined;
    for (const c of node.children ?? []) if (best === undefined || total(c) > total(best.id)) best = byId.get(c);
    // stop where the path thins out into many small branches
    node = best !== undefined && total(best.id) >= 0.02 * sampledUs ? best : undefined;
  }
  return path;
}

/** V8 bookkeeping entries that are not functions of the program. */
export const V8_ENTRIES = new Set(['(root)', '(program)', '(idle)', '(garbage collector)']);

/** A fixed-width table of the `top` functions by self time (V8's '(root)' and '(idle)' left out). */
export function formatTopFunctions(summary: ProfileSummary, top = 12): string {
  const rows = summary.functions.filter((f) => f.name !== '(root)' && f.name !== '(idle)').slice(0, top);
  const ms = (x: number) => x.toFixed(1);
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const head = ['self ms', 'self %', 'total %', 'function', 'location'];
  const name = (n: string) => (n.length > 44 ? `${n.slice(0, 43)}…` : n);
  const body = rows.map((f) => [ms(f.selfMs), pct(f.selfShare), pct(f.totalShare), name(f.name), f.location]);
  const width = head.map((h, c) => Math.max(h.length, ...body.map((r) => r[c].length)));
  const line = (r: string[]) =>
    r
      .map((cell, c) => (c < 3 ? cell.padStart(width[c]) : cell.padEnd(width[c])))
      .join('  ')
      .trimEnd();
  return [line(head), line(width.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** The top functions and the heaviest call path, as the lines the profiling commands print. */
export function formatSummaryLines(summary: ProfileSummary, top = 12): string[] {
  return [
    `Top ${top} functions by self time (self = on top of the stack; total = anywhere on the stack):`,
    '',
    formatTopFunctions(summary, top),
    '',
    'Heaviest call path (each step: the callee with the most total time):',
    '',
    ...summary.hotPath.map((step, i) => `${(step.totalShare * 100).toFixed(1).padStart(5)}%  ${'  '.repeat(Math.min(i, 20))}${step.label}`),
  ];
}
