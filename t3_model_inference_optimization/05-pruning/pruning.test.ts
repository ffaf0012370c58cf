/**
 * Checkpoint for 05-pruning. `npm run checkpoint -- 05-pruning` runs it against exercise.ts; plain `npx vitest run`
 * checks before.ts (nothing pruned, the baseline: only the fidelity and "nothing else changed" checks apply) and
 * after.ts.
 *
 * The model: a small encoder of the lesson's shape (2 layers, hidden 32, 4 heads of 8, FFN 128; shared/model/encoder.ts)
 * with seeded weights in which neurons and heads differ in importance (`importanceSpreadWeights`: ffn.up columns and
 * ffn.down rows, attn.v columns and attn.out rows scaled by independent log-normal factors, about 20× between ±2
 * standard deviations). Seeded BERT init makes every neuron look alike, which would hide the lesson's decision; a
 * trained model's neurons are not alike. Seeded weights: outputs carry no meaning; fidelity is the cosine of the
 * pruned model's output to the unpruned model's, over 300 seeded token-id lists of 1-48 tokens.
 *
 * What is checked is read from the weights and the model bytes, not timed: at 25% and 50% removed, each layer keeps
 * round(n · (1 − share)) neurons and heads in matrices that shrink to match; each kept neuron keeps its ffn.up column,
 * bias and ffn.down row together (a head its q/k/v columns, biases and attn.out rows), exactly as they were; every
 * other tensor is unchanged; the layers' parameters fall to ≤ 55% at 50% / 50%; the output cosine to the unpruned
 * model is ≥ 0.988 on average and ≥ 0.94 for every input at 50% / 50%.
 */
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildEncoderFromWeights, encoderConfig, TINY_ENCODER, type EncoderOptions, type EncoderWeights } from '../../shared/model/encoder.ts';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { keptCount } from '../../shared/model/prune.ts';
import { embedAll, openSession, rowCosines, seededTexts } from '../../shared/model/session.ts';
import { importanceSpreadWeights } from './data.ts';

type Mod = typeof import('./after.ts');

/**
 * Floors on the output cosine to the unpruned model at 50% of neurons and heads removed: between what importance
 * pruning (after.ts) and ranking neurons by their ffn.up column alone reach on this model (measured figures in the
 * README's exercise section).
 */
const MEAN_COSINE = 0.988;
const MIN_COSINE = 0.94;
/** Parameters of the layers (every `layer.*` tensor) after 50% / 50%, against before: 50% + the untouched biases and norms. */
const LAYER_SHARE = 0.55;

/** heads 4 (not TINY_ENCODER's 2) so 25% of the heads is a whole head; weightStd 0.1 so two 32-wide layers move the output. */
const OPTS: EncoderOptions = { ...TINY_ENCODER, heads: 4, weightStd: 0.1, biasStd: 0.02, normStd: 0.1 };
const C = encoderConfig(OPTS);
const D = C.hidden / C.heads;
const weights = importanceSpreadWeights(OPTS, 0.75);
const texts = seededTexts(300, C.vocab, 1, 48);
const AMOUNTS = [
  { ffn: 0.25, heads: 0.25 },
  { ffn: 0.5, heads: 0.5 },
];
const HALF = AMOUNTS[1];

const column = (data: Float32Array, rows: number, cols: number, c: number) => Array.from({ length: rows }, (_, r) => data[r * cols + c]).join();
const row = (data: Float32Array, cols: number, r: number) => Array.from(data.subarray(r * cols, (r + 1) * cols)).join();
const layerParams = (w: EncoderWeights) => [...w.tensors].filter(([n]) => n.startsWith('layer.')).reduce((s, [, t]) => s + t.data.length, 0);

/**
 * Structure of one layer's FFN: returns a failure message or undefined. Checks shapes first (the matching rows of
 * ffn.down, then the kept count), then that each kept ffn.up column is an original neuron's, with that neuron's bias
 * and ffn.down row beside it.
 */
function ffnProblem(p: EncoderWeights, i: number, want: number): string | undefined {
  const up = p.tensors.get(`layer.${i}.ffn.up.weight`)!;
  const bias = p.tensors.get(`layer.${i}.ffn.up.bias`)!;
  const down = p.tensors.get(`layer.${i}.ffn.down.weight`)!;
  const f = up.dims[1];
  if (down.dims[0] !== f || bias.dims[0] !== f) {
    return (
      `layer ${i}: ffn.up keeps ${f} neurons (columns), its bias has ${bias.dims[0]} and ffn.down still has ${down.dims[0]} input rows: ` +
      `remove the same rows of ffn.down (and entries of the bias) as columns of ffn.up, or the model does not load (or mixes up neurons)`
    );
  }
  if (f !== want) {
    const zeroCols = Array.from({ length: f }, (_, c) => c).filter((c) => column(up.data, C.hidden, f, c).split(',').every((x) => Number(x) === 0)).length;
    return zeroCols > 0 && f === C.ffn
      ? `layer ${i}: ffn.up is still [${up.dims}] with ${zeroCols} columns all zero, for ${want} kept neurons: zeroing weights in place keeps every byte and every multiply; remove the neurons so the matrices shrink`
      : `layer ${i}: ffn.up is [${up.dims}], expected ${want} neurons kept of ${C.ffn} (round(n · (1 − share)))`;
  }
  const ou = weights.tensors.get(`layer.${i}.ffn.up.weight`)!.data;
  const ob = weights.tensors.get(`layer.${i}.ffn.up.bias`)!.data;
  const od = weights.tensors.get(`layer.${i}.ffn.down.weight`)!.data;
  const original = new Map(Array.from({ length: C.ffn }, (_, n) => [column(ou, C.hidden, C.ffn, n), n]));
  for (let j = 0; j < f; j++) {
    const n = original.get(column(up.data, C.hidden, f, j));
    if (n === undefined) return `layer ${i}: ffn.up column ${j} is no original neuron's column: kept neurons must keep their weights as they were`;
    if (bias.data[j] !== ob[n]) return `layer ${i}: ffn.up column ${j} is neuron ${n}'s, but its bias entry is not neuron ${n}'s`;
    if (row(down.data, C.hidden, j) !== row(od, C.hidden, n)) {
      return `layer ${i}: ffn.up column ${j} is neuron ${n}'s, but row ${j} of ffn.down is not neuron ${n}'s row: remove the same rows of ffn.down as columns of ffn.up`;
    }
  }
  return undefined;
}

/** Structure of one layer's attention: whole heads, q/k/v columns + biases and attn.out rows together. */
function headProblem(p: EncoderWeights, i: number, want: number): string | undefined {
  const q = p.tensors.get(`layer.${i}.attn.q.weight`)!;
  const out = p.tensors.get(`layer.${i}.attn.out.weight`)!;
  const a = q.dims[1];
  if (a % D !== 0) return `layer ${i}: attn.q is [${q.dims}]: ${a} columns is not a whole number of ${D}-wide heads (remove whole heads)`;
  for (const m of ['k', 'v']) {
    const t = p.tensors.get(`layer.${i}.attn.${m}.weight`)!;
    if (t.dims[1] !== a) return `layer ${i}: attn.q has ${a} columns, attn.${m} ${t.dims[1]}: a head is its columns of q, k and v together`;
  }
  if (out.dims[0] !== a) return `layer ${i}: attn.q/k/v keep ${a / D} heads (${a} columns), but attn.out still has ${out.dims[0]} rows: remove the same heads' rows of attn.out`;
  if (a / D !== want) {
    return a === C.hidden
      ? `layer ${i}: attn.q is still [${q.dims}] for ${want} kept heads of ${C.heads}: zeroing weights in place keeps every byte and every multiply; remove whole heads`
      : `layer ${i}: ${a / D} heads kept, expected ${want} of ${C.heads}`;
  }
  const headOf = (m: string, data: Float32Array, cols: number, h: number) =>
    Array.from({ length: D }, (_, k) => (m === 'out' ? row(data, C.hidden, h * D + k) : column(data, C.hidden, cols, h * D + k))).join(';');
  const original = new Map(Array.from({ length: C.heads }, (_, h) => [headOf('v', weights.tensors.get(`layer.${i}.attn.v.weight`)!.data, C.hidden, h), h]));
  const v = p.tensors.get(`layer.${i}.attn.v.weight`)!;
  for (let j = 0; j < want; j++) {
    const h = original.get(headOf('v', v.data, a, j));
    if (h === undefined) return `layer ${i}: head ${j}'s attn.v columns are no original head's: keep whole heads as they were`;
    for (const m of ['q', 'k']) {
      if (headOf(m, p.tensors.get(`layer.${i}.attn.${m}.weight`)!.data, a, j) !== headOf(m, weights.tensors.get(`layer.${i}.attn.${m}.weight`)!.data, C.hidden, h)) {
        return `layer ${i}: head ${j} has head ${h}'s attn.v columns but not its attn.${m} columns: a head's q, k and v go together`;
      }
    }
    if (headOf('out', out.data, a, j) !== headOf('out', weights.tensors.get(`layer.${i}.attn.out.weight`)!.data, C.hidden, h)) {
      return `layer ${i}: head ${j} has head ${h}'s attn.v columns but not its attn.out rows: remove the same heads' rows of attn.out`;
    }
  }
  return undefined;
}

let fullRows: Float32Array[];
let fullBytes: number;
beforeAll(async () => {
  const full = buildEncoderFromWeights(weights);
  fullBytes = full.length;
  const s = await openSession(full);
  fullRows = await embedAll(s, texts);
  await s.release();
});

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  const pruned = new Map<string, EncoderWeights>();
  let failed: unknown;
  beforeAll(() => {
    try {
      for (const a of AMOUNTS) pruned.set(JSON.stringify(a), impl.pruneEncoder(weights, a));
    } catch (err) {
      failed = err; // each test reports it, under this implementation's name
    }
  });
  beforeEach(() => {
    if (failed) throw failed;
  });
  const at = (a: { ffn: number; heads: number }) => pruned.get(JSON.stringify(a))!;

  it('leaves every tensor outside the pruned neurons and heads as it was (embeddings, norms, attn.out and ffn.down biases)', () => {
    for (const a of AMOUNTS) {
      const p = at(a);
      for (const [n, t] of weights.tensors) {
        if (/\.(attn\.(q|k|v)\.(weight|bias)|attn\.out\.weight|ffn\.up\.(weight|bias)|ffn\.down\.weight)$/.test(n)) continue;
        const now = p.tensors.get(n);
        expect(now, `'${n}' is gone from the weights`).toBeDefined();
        expect(now!.data.length === t.data.length && now!.data.every((x, k) => x === t.data[k]), `'${n}' is not pruned, but it changed`).toBe(true);
      }
    }
  });

  it(`keeps the output cosine to the unpruned model ≥ ${MEAN_COSINE} on average and ≥ ${MIN_COSINE} for every input, at 50% of neurons and heads removed (seeded weights: outputs carry no meaning)`, async () => {
    const model = buildEncoderFromWeights(at(HALF));
    const s = await openSession(model);
    let rows: Float32Array[];
    try {
      rows = await embedAll(s, texts);
    } finally {
      await s.release();
    }
    const cos = rowCosines(fullRows, rows);
    const mean = cos.reduce((x, y) => x + y, 0) / cos.length;
    const worst = Math.min(...cos);
    const i = cos.indexOf(worst);
    const why = 'the kept neurons and heads are not the ones that matter (a neuron matters by how strongly it reads its input and writes its output)';
    expect(mean, `mean output cosine to the unpruned model ${mean.toFixed(5)} over ${cos.length} inputs, below the ${MEAN_COSINE} floor: ${why}`).toBeGreaterThanOrEqual(MEAN_COSINE);
    expect(worst, `input ${i} (${texts[i].length} tokens): output cosine ${worst.toFixed(5)}, below the ${MIN_COSINE} floor: ${why}`).toBeGreaterThanOrEqual(MIN_COSINE);
  });

  describe.skipIf(name === 'before')('the pruned layers', () => {
    it('removes whole FFN neurons: ffn.up columns, their bias entries and the same rows of ffn.down, at 25% and 50%', () => {
      for (const a of AMOUNTS) {
        for (let i = 0; i < C.layers; i++) {
          const problem = ffnProblem(at(a), i, keptCount(C.ffn, a.ffn));
          if (problem) expect.fail(`${a.ffn * 100}% of the neurons removed: ${problem}`);
        }
      }
    });

    it("removes whole heads: their q/k/v columns and biases and the same rows of attn.out, at 25% and 50%", () => {
      for (const a of AMOUNTS) {
        for (let i = 0; i < C.layers; i++) {
          const problem = headProblem(at(a), i, keptCount(C.heads, a.heads));
          if (problem) expect.fail(`${a.heads * 100}% of the heads removed: ${problem}`);
        }
      }
    });

    it(`records the widths in layerShapes and builds a smaller model: the layers' parameters ≤ ${Math.round(LAYER_SHARE * 100)}% at 50% / 50%`, () => {
      const p = at(HALF);
      const want = { heads: keptCount(C.heads, HALF.heads), ffn: keptCount(C.ffn, HALF.ffn) };
      expect(p.layerShapes?.map((s) => `${s.heads}/${s.ffn}`).join(), `layerShapes (heads/ffn per layer) should say ${want.heads}/${want.ffn} for every layer`).toBe(
        Array(C.layers).fill(`${want.heads}/${want.ffn}`).join(),
      );
      const share = layerParams(p) / layerParams(weights);
      const bytes = buildEncoderFromWeights(p).length;
      expect(
        share,
        `the layers keep ${(100 * share).toFixed(1)}% of their parameters (model ${bytes} of ${fullBytes} bytes), bound ${Math.round(LAYER_SHARE * 100)}%: zeroing weights in place keeps every byte`,
      ).toBeLessThanOrEqual(LAYER_SHARE);
    });
  });
});
