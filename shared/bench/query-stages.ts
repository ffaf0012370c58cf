/**
 * npm run bench:query -- [--index .cache/idx-100k] [--queries 2000] [--candidates 20,100] [--hybrid-ef 24,160] [--json]
 *
 * Where one hybrid query's time goes, stage by stage, over a saved index, one query at a time on one core: the
 * engine's own per-stage timings (analyze, bm25, embed, dense, fuse, answer, total) for the load test's query
 * phrases. Several configurations (candidate depth × HNSW beam) run in interleaved rounds in one process, so the
 * machine's drift lands on all of them alike and their ratio holds.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadEngine, type Engine } from '../engine.ts';
import { collectEnv, formatEnvLines, makeRunId } from '../lab/env.ts';
import { percentileNearestRank } from '../util/stats.ts';
import { renderTextTable } from '../util/table.ts';
import { brownPhraseSource, requestStream } from '../loadtest/workloads.ts';
import { fail, numberFlag, parseCli, runMain } from '../util/cli.ts';
import { REPO_ROOT } from '../util/paths.ts';

const USAGE = `Usage: npm run bench:query -- [options]

Loads a saved index once per configuration and times hybrid queries (k = 10, answer included) one at a time, with
each stage's share: analyze, bm25, embed, dense, fuse, answer. The queries are the load test's uniform phrases
(3–8 consecutive words of a Brown sentence, all distinct). Configurations run in interleaved rounds, so their
ratio is fair even when the machine's speed drifts. Writes reports/bench/query-stages-<run>.json.

Options:
  --index <dir>        saved index (default .cache/idx-100k; build it with npm run index -- --scale 100000 --out <dir>)
  --queries <n>        timed queries per configuration and round (default 2000)
  --rounds <n>         interleaved rounds (default 3)
  --candidates <list>  candidates per retriever before fusion, comma-separated (default 20, the engine's)
  --hybrid-ef <list>   HNSW beam for the dense list, comma-separated, paired with --candidates (default 24)
  --seed <n>           query stream seed (default 7)
  --json               print the results as JSON on stdout (progress stays on stderr)
  -h, --help           this text

Example: npm run bench:query -- --candidates 20,30,100 --hybrid-ef 24,40,160
`;

const STAGES = ['analyze', 'bm25', 'embed', 'dense', 'fuse', 'answer'] as const;

function parseList(name: string, v: string | undefined, dflt: number): number[] {
  if (v === undefined) return [dflt];
  const out = v.split(',').map((x) => Number(x.trim()));
  if (out.some((n) => !Number.isInteger(n) || n < 1 || n > 1000)) fail(`--${name}: expected comma-separated integers 1..1000, got "${v}"`);
  return out;
}

runMain(async () => {
  const { values } = parseCli(USAGE, {
    index: { type: 'string' },
    queries: { type: 'string' },
    rounds: { type: 'string' },
    candidates: { type: 'string' },
    'hybrid-ef': { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const index = resolve(values.index ?? join(REPO_ROOT, '.cache/idx-100k'));
  if (!existsSync(join(index, 'manifest.json'))) {
    fail(`no saved index in ${index}; build one with npm run index -- --scale 100000 --out ${index}`);
  }
  const nQueries = numberFlag('queries', values.queries, 2000, (n) => Number.isInteger(n) && n > 0);
  const rounds = numberFlag('rounds', values.rounds, 3, (n) => Number.isInteger(n) && n > 0 && n <= 20);
  const seed = numberFlag('seed', values.seed, 7, (n) => Number.isInteger(n) && n >= 0);
  let cands = parseList('candidates', values.candidates, 30);
  let efs = parseList('hybrid-ef', values['hybrid-ef'], 40);
  if (cands.length !== efs.length) {
    if (cands.length === 1) cands = efs.map(() => cands[0]);
    else if (efs.length === 1) efs = cands.map(() => efs[0]);
    else fail(`--candidates has ${cands.length} values and --hybrid-ef ${efs.length}: give the same number, or one`);
  }
  const log = (msg: string) => process.stderr.write(`${msg}\n`);
  const env = collectEnv(REPO_ROOT, 'full');

  const src = await brownPhraseSource();
  const stream = requestStream('uniform', src, { seed });
  const queries: string[] = [];
  for (let i = 0; i < nQueries + 200; i++) queries.push((JSON.parse((stream.next().value as { body: string }).body) as { query: string }).query);
  const warm = queries.slice(0, 200);
  const timed = queries.slice(200);

  const configs: Array<{ name: string; engine: Engine; stages: Record<string, number[]>; total: number[] }> = [];
  for (let i = 0; i < cands.length; i++) {
    const name = `candidates ${cands[i]}, beam ${efs[i]}`;
    log(`loading ${index} (${name})`);
    const t = performance.now();
    const engine = await loadEngine(index, { candidates: cands[i], hybridEf: efs[i], llm: null });
    log(`  loaded in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    for (const q of warm) await engine.query(q, { k: 10 });
    configs.push({ name, engine, stages: Object.fromEntries(STAGES.map((s) => [s, []])), total: [] });
  }
  for (let r = 0; r < rounds; r++) {
    for (const c of configs) {
      log(`round ${r + 1}/${rounds}: ${c.name}`);
      for (const q of timed) {
        const { timings } = await c.engine.query(q, { k: 10 });
        for (const s of STAGES) c.stages[s].push(timings[s] ?? 0);
        c.total.push(timings.total);
      }
    }
  }

  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;
  const base = mean(configs[0].total);
  const results = configs.map((c) => {
    const sorted = [...c.total].sort((a, b) => a - b);
    return {
      config: c.name,
      stagesMeanMs: Object.fromEntries(STAGES.map((s) => [s, mean(c.stages[s])])),
      totalMs: { mean: mean(c.total), p50: percentileNearestRank(sorted, 50), p99: percentileNearestRank(sorted, 99) },
      relative: base / mean(c.total),
    };
  });
  const header = ['configuration', ...STAGES, 'total mean', 'p50', 'p99', 'speed vs first'];
  const rows = results.map((r) => [
    r.config,
    ...STAGES.map((s) => us(r.stagesMeanMs[s])),
    us(r.totalMs.mean),
    us(r.totalMs.p50),
    us(r.totalMs.p99),
    `${r.relative.toFixed(2)}×`,
  ]);
  const out = {
    env,
    index,
    queries: timed.length,
    rounds,
    results,
  };
  const dir = join(REPO_ROOT, 'reports', 'bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `query-stages-${makeRunId(new Date(env.date), env.commit, env.dirty)}.json`);
  writeFileSync(file, JSON.stringify(out, null, 1));
  if (values.json) process.stdout.write(`${JSON.stringify(out)}\n`);
  else {
    process.stdout.write(`${formatEnvLines(env).join('\n')}\n\n`);
    process.stdout.write(`hybrid k = 10 with the answer, ${timed.length} distinct phrases × ${rounds} rounds per configuration, one core\n`);
    process.stdout.write(`${renderTextTable(header, rows)}\nresults: ${file}\n`);
  }
});
