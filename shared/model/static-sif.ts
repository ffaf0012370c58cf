import { RagError } from '../errors.ts';
import type { GloveLookup } from '../embed/glove-cache.ts';
import type { SifEmbedder, SifState } from '../embed/sif.ts';
import { tokenize } from '../text/tokenize.ts';
import { GraphBuilder } from './onnx-build.ts';
import { OnnxEmbedder, type OnnxEmbedderOptions } from './onnx-embedder.ts';

/**
 * The engine's static embedder (`SifEmbedder`: SIF-weighted GloVe-100d) as an ONNX graph, so the T3 lessons can
 * quantize, prune and distil a model whose outputs mean something.
 *
 *   input_ids, attention_mask   int64 [batch, seq]   (0-padded; id 0 is the padding row)
 *   E    = Gather(table, input_ids)                  table[id] = a/(a + p(w)) · v(w): the SIF weight folded in
 *   s    = ReduceSum(E · mask, axis 1)               [batch, dim]
 *   n    = max(ReduceSum(mask, axis 1), 1)           [batch, 1]   (0 words → s = 0 → a zero row)
 *   m    = s / n
 *   x    = m − (m·u) uᵀ                              the fitted principal component, if any
 *   embedding = x / max(‖x‖, 1e-30)                  [batch, dim]
 *
 * What stays in TypeScript (`sifTokenIds`): tokenising, and dropping stop words and words without a vector, exactly
 * as `SifEmbedder.average` does, so the mask counts the same words the engine divides by.
 *
 * (The final L2 normalisation cancels the 1/n, and row 0 is zero, so for the output alone neither the mask nor the
 * count matters. They are in the graph anyway: the intermediate `m` is then the engine's weighted mean, which lessons
 * that cut the graph short or quantize the table, where padded rows need not stay zero, rely on.)
 *
 * The full table is the engine's whole vocabulary (341,479 words + the padding row, × 100 float32 ≈ 137 MB); the
 * `vocabulary` option keeps only the words given (e.g. those a corpus and its queries use), renumbered by frequency
 * rank. A word outside that vocabulary is unknown to the model, as a word without a vector is to the engine.
 */

export interface StaticSifOptions {
  /**
   * Keep only these words (compared lower-cased, as `tokenize` yields them); ids are renumbered 1..n in frequency-rank
   * order. Stop words and words without a vector are left out. Default: the whole vocabulary (id = rank + 1).
   */
  vocabulary?: Iterable<string>;
  /**
   * The fitted state to bake in. Default: `embedder.state()`. Its dim, a and Zipf exponent must be the embedder's
   * (the word weights come from the embedder): restore it into the embedder first to build from another state.
   */
  state?: SifState;
}

/** Word → model id: `id(rank)` for a GloVe frequency rank, −1 when the model has no row for it. */
export interface SifVocab {
  /** Rows of the table, padding row included. */
  readonly rows: number;
  id(rank: number): number;
}

export interface StaticSifModel {
  /** The serialised ONNX model. */
  bytes: Uint8Array;
  vocab: SifVocab;
  dim: number;
  /** Whether the principal-component removal is in the graph (false for an unfitted embedder). */
  removesComponent: boolean;
}

/** The embedder's word lookup and per-rank weights (0 = stop word): the table is folded from exactly these. */
function internals(sif: SifEmbedder): { glove: GloveLookup; weights: Readonly<Float32Array> } {
  const t = sif.tables();
  if (t.weights.length !== t.glove.count) {
    throw new RagError('INVALID_INPUT', `static-sif: ${t.weights.length} word weights for ${t.glove.count} words`);
  }
  return t;
}

const FULL_VOCAB_CACHE = new WeakMap<SifEmbedder, SifVocab>();

/** The whole vocabulary: id = rank + 1 (row 0 pads). */
export function fullSifVocab(sif: SifEmbedder): SifVocab {
  let v = FULL_VOCAB_CACHE.get(sif);
  if (!v) {
    const count = internals(sif).glove.count;
    v = { rows: count + 1, id: (rank) => rank + 1 };
    FULL_VOCAB_CACHE.set(sif, v);
  }
  return v;
}

/**
 * The ids the graph takes for each text: tokenize, drop words without a vector, stop words (weight 0) and words the
 * model's vocabulary lacks. An empty list means the text embeds to the zero row. `vocab` defaults to the whole table.
 */
export function sifTokenIds(sif: SifEmbedder, texts: readonly string[], vocab: SifVocab = fullSifVocab(sif)): Int32Array[] {
  const { glove, weights } = internals(sif);
  return texts.map((text) => tokenIdsOf(glove, weights, vocab, text));
}

function tokenIdsOf(glove: GloveLookup, weights: Float32Array, vocab: SifVocab, text: string): Int32Array {
  const toks = tokenize(text);
  const ids = new Int32Array(toks.length);
  let n = 0;
  for (const tok of toks) {
    const r = glove.rank(tok);
    if (r < 0 || weights[r] === 0) continue;
    const id = vocab.id(r);
    if (id < 0) continue;
    ids[n++] = id;
  }
  return ids.subarray(0, n);
}

/** The distinct words of `texts` that the embedder would use (known, not stop words): a `vocabulary` for a corpus. */
export function corpusVocabulary(sif: SifEmbedder, texts: Iterable<string>): string[] {
  const { glove, weights } = internals(sif);
  const seen = new Set<string>();
  for (const text of texts) {
    for (const tok of tokenize(text)) {
      if (seen.has(tok)) continue;
      const r = glove.rank(tok);
      if (r >= 0 && weights[r] !== 0) seen.add(tok);
    }
  }
  return [...seen];
}

function checkState(sif: SifEmbedder, state: SifState | undefined): SifState {
  const own = sif.state();
  if (state === undefined) return own;
  const s = state as Partial<SifState> | null;
  if (!s || s.kind !== 'sif' || s.version !== 1) throw new RagError('INVALID_INPUT', 'static-sif: state is not a SIF state (v1)');
  if (s.dim !== sif.dim) throw new RagError('INVALID_INPUT', `static-sif: state has dim ${s.dim}, the embedder's vectors have ${sif.dim}`);
  if (s.a !== own.a || s.zipfExponent !== own.zipfExponent) {
    throw new RagError(
      'INVALID_INPUT',
      `static-sif: state has a=${s.a}, zipfExponent=${s.zipfExponent}; the embedder weighs words with a=${own.a}, zipfExponent=${own.zipfExponent} (restore the state into the embedder first)`,
    );
  }
  if (s.component != null && (!Array.isArray(s.component) || s.component.length !== sif.dim || !s.component.every(Number.isFinite))) {
    throw new RagError('INVALID_INPUT', `static-sif: state component must be ${sif.dim} finite numbers, got ${Array.isArray(s.component) ? s.component.length : typeof s.component}`);
  }
  return s as SifState;
}

/** Build the ONNX model of `sif` (fitted or not). */
export function buildStaticSifModel(sif: SifEmbedder, opts: StaticSifOptions = {}): StaticSifModel {
  const state = checkState(sif, opts.state);
  const { glove, weights } = internals(sif);
  const dim = sif.dim;

  // ranks in the table, in rank order; row r+1 (full) or i+1 (restricted)
  let vocab: SifVocab;
  let ranks: Int32Array | null = null;
  if (opts.vocabulary === undefined) {
    vocab = fullSifVocab(sif);
  } else {
    const picked = new Set<number>();
    for (const word of opts.vocabulary) {
      const r = glove.rank(String(word).toLowerCase());
      if (r >= 0 && weights[r] !== 0) picked.add(r);
    }
    if (picked.size === 0) {
      throw new RagError('INVALID_INPUT', 'static-sif: the vocabulary has no word with a vector that is not a stop word; the model would embed everything to zero');
    }
    ranks = Int32Array.from(picked).sort();
    const idOf = new Int32Array(glove.count).fill(-1);
    for (let i = 0; i < ranks.length; i++) idOf[ranks[i]] = i + 1;
    vocab = { rows: ranks.length + 1, id: (rank) => (rank >= 0 && rank < idOf.length ? idOf[rank] : -1) };
  }

  // table[id] = w(rank) · v(rank), computed by the embedder's own addScaled (out += w·v on a zero row), so each entry
  // is the float32 of the very product the engine adds; row 0 and stop-word rows stay zero
  const table = new Float32Array(vocab.rows * dim);
  if (ranks === null) {
    for (let r = 0; r < glove.count; r++) {
      const w = weights[r];
      if (w !== 0) glove.addScaled(r, w, table.subarray((r + 1) * dim, (r + 2) * dim));
    }
  } else {
    for (let i = 0; i < ranks.length; i++) glove.addScaled(ranks[i], weights[ranks[i]], table.subarray((i + 1) * dim, (i + 2) * dim));
  }

  const g = new GraphBuilder('static-sif');
  const ids = g.input('input_ids', 'int64', ['batch', 'seq']);
  const mask = g.input('attention_mask', 'int64', ['batch', 'seq']);
  const tableName = g.initializer('sif_table', 'float32', [vocab.rows, dim], table);
  const emb = g.op('Gather', [tableName, ids], { axis: 0 }); // [B, S, D]
  const m = g.op('Cast', [mask], { to: 1 /* FLOAT */ }); // [B, S]
  const m3 = g.op('Unsqueeze', [m, g.ints([-1])]); // [B, S, 1]
  const sum = g.op('ReduceSum', [g.op('Mul', [emb, m3]), g.ints([1])], { keepdims: 0 }); // [B, D]
  const n = g.op('Max', [g.op('ReduceSum', [m, g.ints([1])], { keepdims: 1 }), g.floats([1], [])]); // [B, 1]
  let x = g.op('Div', [sum, n]);
  const removesComponent = state.component != null;
  if (state.component) {
    const uCol = g.floats(state.component, [dim, 1], 'sif_component');
    const uRow = g.floats(state.component, [1, dim], 'sif_component_row');
    const d = g.op('MatMul', [x, uCol]); // [B, 1]
    x = g.op('Sub', [x, g.op('Mul', [d, uRow])]);
  }
  const norm = g.op('Sqrt', [g.op('ReduceSumSquare', [x, g.ints([1])], { keepdims: 1 })]);
  // a zero row stays zero: 0 / 1e-30 = 0 (the engine skips normalising when ‖x‖ = 0)
  g.node('Div', [x, g.op('Max', [norm, g.floats([1e-30], [])])], {}, { outputs: ['embedding'] });
  g.output('embedding', 'float32', ['batch', dim]);

  const bytes = g.toBytes({
    docString: 'SIF-weighted GloVe-100d sentence embedding (rag-perf-lab shared/model/static-sif.ts)',
    metadata: {
      embedder: sif.name,
      a: String(state.a),
      zipfExponent: String(state.zipfExponent),
      vocabulary: ranks === null ? 'full' : `${ranks.length} words`,
    },
  });
  return { bytes, vocab, dim, removesComponent };
}

export interface OnnxSifOptions extends StaticSifOptions, Pick<OnnxEmbedderOptions, 'intraOpNumThreads' | 'maxTokens'> {}

/** `buildStaticSifModel` + an `OnnxEmbedder` that tokenises with `sifTokenIds`. Also returns the model (bytes, size). */
export async function createOnnxSifEmbedder(sif: SifEmbedder, opts: OnnxSifOptions = {}): Promise<{ embedder: OnnxEmbedder; model: StaticSifModel }> {
  const model = buildStaticSifModel(sif, opts);
  const { glove, weights } = internals(sif);
  const embedder = await OnnxEmbedder.create(model.bytes, {
    name: `onnx-${sif.name}`,
    dim: model.dim,
    tokenize: (text) => tokenIdsOf(glove, weights, model.vocab, text),
    intraOpNumThreads: opts.intraOpNumThreads,
    maxTokens: opts.maxTokens,
  });
  return { embedder, model };
}
