/**
 * Summarises a V8 CPU profile (`node --cpu-prof`): the functions with the most self time, and time by file.
 *
 *     npx tsx shared/loadtest/profile-summary.ts /tmp/prof/CPU.*.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { numberFlag, parseCli, runMain } from '../util/cli.ts';
import { REPO_ROOT } from '../util/paths.ts';

const USAGE = `
Usage: npx tsx shared/loadtest/profile-summary.ts <file.cpuprofile> [--top N]

Prints the functions with the most self time (where the CPU actually was) and the self time per source file.
`;

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

export function summarizeProfile(file: string, top: number): string {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const files = new Map<string, number>();
  const short = (url: string) => {
    const p = url.replace(/^file:\/\//, '');
    return p.startsWith(REPO_ROOT) ? relative(REPO_ROOT, p) : p || '(native)';
  };
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const f = short(n.callFrame.url);
    const name = `${n.callFrame.functionName || '(anonymous)'}  ${f}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;
    fn.set(name, (fn.get(name) ?? 0) + us);
    const bucket = f.includes('node_modules/') ? f.replace(/.*node_modules\/((@[^/]+\/)?[^/]+).*/, 'node_modules/$1') : f;
    files.set(bucket, (files.get(bucket) ?? 0) + us);
  }
  const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const lines = [`${file}: ${(total / 1e6).toFixed(1)} s of samples`, '', `Top ${top} functions by self time:`];
  for (const [name, us] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(us)}  ${name}`);
  lines.push('', 'Self time by file / package:');
  for (const [name, us] of [...files].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(us)}  ${name}`);
  return lines.join('\n');
}

runMain(async () => {
  const { values, positionals } = parseCli(USAGE, { top: { type: 'string' } }, process.argv.slice(2), true);
  const top = numberFlag('top', values.top, 25, (n) => Number.isInteger(n) && n > 0);
  for (const f of positionals) process.stdout.write(`${summarizeProfile(f, top)}\n\n`);
});
