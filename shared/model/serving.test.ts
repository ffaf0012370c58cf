/**
 * The engine on an ONNX model folder, as real processes: `npm run index -- --embedder onnx --model <dir>` builds an
 * index with a tiny seeded encoder + its `tokenizer.json` (shared/model/tiny-model-dir.ts; outputs carry no meaning,
 * but the same text gives the same vector), `npm run serve -- --embedder onnx --model <dir>` serves it and finds a
 * document by its own text on the dense path; serving it with the default embedder fails at start naming both; the
 * flag mistakes are refused with their reason.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectRagError } from '../util/expect-rag-error.ts';
import { REPO_ROOT } from '../util/paths.ts';
import { ServeProcess } from '../serve/test-process.ts';
import { embedderChoice } from './serving.ts';
import { matmulWeightNames } from './encoder.ts';
import { quantizeMatMulWeights } from './quantize.ts';
import { ENCODER, writeTinyModelDir } from './tiny-model-dir.ts';

const run = promisify(execFile);
const DOCS = [
  'the quick red fish swims in the river by the old stone house',
  'a blue train runs on the road to the new city at night',
  'learn to read and write a book on the vector search index',
  'the small bird sang to the moon over the green tree',
];
let root: string;
let model: string;
let index: string;
const started: ServeProcess[] = [];

async function cli(script: string, args: string[]) {
  return run(process.execPath, ['--import', 'tsx', script, ...args], { cwd: REPO_ROOT, env: { ...process.env, LOG_LEVEL: 'warn' } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'rag-onnx-serve-'));
  model = await writeTinyModelDir(join(root, 'tiny-model'), { maxLength: 64 });
  const corpus = join(root, 'corpus');
  await mkdir(corpus);
  for (const [i, text] of DOCS.entries()) await writeFile(join(corpus, `doc-${i}.txt`), text);
  index = join(root, 'idx');
  const r = await cli('shared/serve/cli-index.ts', ['--embedder', 'onnx', '--model', model, '--corpus', corpus, '--out', index]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/saved 4 documents/);
}, 120_000);

afterAll(async () => {
  for (const s of started) await s.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('--embedder onnx --model <dir>', () => {
  it('index records the model as its embedder', async () => {
    const manifest = JSON.parse(await readFile(join(index, 'manifest.json'), 'utf8'));
    expect(manifest.embedder.name).toBe('onnx:tiny-model');
    expect(manifest.embedder.dim).toBe(32);
  });

  it('serve answers dense queries with the model: each document is found by its own text', async () => {
    const s = new ServeProcess(['--index', index, '--embedder', 'onnx', '--model', model], { DATA_DIR: join(root, 'data-1') });
    started.push(s);
    await s.start();
    await s.waitServing();
    for (const text of DOCS) {
      const r = await s.call('POST', '/v1/query', { query: text, k: 2, mode: 'dense' });
      expect(r.status, r.text).toBe(200);
      const hits = JSON.parse(r.text).hits as { text: string }[];
      expect(hits[0].text, `dense top hit for "${text}"`).toContain(text);
    }
    // hot-swap to the model's int8 form (same folder name, so same embedder) while queries run: none fails
    const int8 = join(root, 'int8', 'tiny-model');
    await mkdir(int8, { recursive: true });
    await writeFile(join(int8, 'model.onnx'), quantizeMatMulWeights(await readFile(join(model, 'model.onnx')), matmulWeightNames(ENCODER)));
    await copyFile(join(model, 'tokenizer.json'), join(int8, 'tokenizer.json'));
    let stop = false;
    const statuses: number[] = [];
    const load = (async () => {
      for (let i = 0; !stop; i++) statuses.push((await s.call('POST', '/v1/query', { query: `${DOCS[i % 4]} ${i}`, k: 2, mode: 'dense' })).status);
    })();
    const swap = await s.call('POST', '/v1/admin/model', { model: int8 });
    stop = true;
    await load;
    expect(swap.status, swap.text).toBe(200);
    const report = JSON.parse(swap.text);
    expect(report).toMatchObject({ model: int8 });
    expect(report.from).not.toBe(report.to);
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.filter((c) => c !== 200), 'failed queries during the swap').toEqual([]);
    expect(s.logLines(/model swapped/)).toHaveLength(1);
    // a folder without a model: 400, nothing changes
    const bad = await s.call('POST', '/v1/admin/model', { model: join(root, 'nowhere') });
    expect(bad.status, bad.text).toBe(400);
    await s.stop();
  }, 120_000);

  it('serving that index with the default embedder fails at start, naming both embedders', async () => {
    const s = new ServeProcess(['--index', index], { DATA_DIR: join(root, 'data-2') });
    started.push(s);
    await s.start();
    const code = await s.exit;
    expect(code).not.toBe(0);
    expect(s.output).toMatch(/index was built with embedder onnx:tiny-model \(32-d\), not sif/);
  }, 120_000);

  it('a service on the SIF embedder answers POST /v1/admin/model with 501 and the reason', async () => {
    const sif = join(root, 'idx-sif');
    const r = await cli('shared/serve/cli-index.ts', ['--corpus', join(root, 'corpus'), '--out', sif]);
    expect(r.code, r.stderr).toBe(0);
    const s = new ServeProcess(['--index', sif], { DATA_DIR: join(root, 'data-3') });
    started.push(s);
    await s.start();
    await s.waitServing();
    const res = await s.call('POST', '/v1/admin/model', {});
    expect(res.status).toBe(501);
    expect(res.text).toMatch(/serves no ONNX model/);
    await s.stop();
  }, 120_000);

  it('refuses flag mistakes with their reason', async () => {
    expectRagError(() => embedderChoice({ embedder: 'onnx' }), /--embedder onnx needs --model <dir>/, 'INVALID_INPUT');
    expectRagError(() => embedderChoice({ model: 'x', embedder: 'sif' }), /--model needs --embedder onnx/, 'INVALID_INPUT');
    expectRagError(() => embedderChoice({ embedder: 'tfjs' }), /--embedder must be sif, sif-int8 or onnx, got "tfjs"/, 'INVALID_INPUT');
    expectRagError(() => embedderChoice({ embedder: 'onnx', model: 'x', 'model-threads': '0' }), /--model-threads must be an integer/, 'INVALID_INPUT');
    expect(embedderChoice({ model: 'x' })).toEqual({ kind: 'onnx', model: 'x', threads: 1 });
    expect(embedderChoice({})).toEqual({ kind: 'sif' });
    expect(embedderChoice({ embedder: 'sif-int8' })).toEqual({ kind: 'sif', precision: 'int8' });
    const r = await cli('shared/serve/cli-index.ts', ['--embedder', 'onnx', '--model', join(root, 'nowhere'), '--out', join(root, 'idx-2')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cannot read .*nowhere\/model\.onnx/);
  }, 60_000);
});
