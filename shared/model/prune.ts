import { RagError } from '../errors.ts';
import { symmetricEigen } from './distill.ts';
import { encoderConfig, type EncoderWeights, type LayerShape, type WeightTensor } from './encoder.ts';
import { GraphBuilder } from './onnx-build.ts';
import { floatsOf, initializersOf } from './quantize.ts';

/**
 * Structured pruning (T3 lesson 05): whole pieces of a model removed, so its matrices shrink and every run does less.
 *
 * The seeded encoder (shared/model/encoder.ts; weights are [in, out], the graph computes x·W):
 *
 *   - an **FFN neuron** j of layer i is column j of `ffn.up.weight` [H, F], entry j of `ffn.up.bias` [F] and row j of
 *     `ffn.down.weight` [F, H]: the three go together, or the layer computes something else (or does not load);
 *   - an **attention head** h is columns h·d..(h+1)·d−1 of `attn.{q,k,v}.weight` [H, A] and their biases, and the same
 *     rows of `attn.out.weight` [A, H] (d = hidden / config heads, A = heads kept · d).
 *
 * `pruneEncoderWeights` does that surgery for chosen indices and records each layer's widths in `layerShapes`, which
 * `buildEncoderFromWeights` builds from. `ffnNeuronImportance` / `headImportance` score the pieces by their weights
 * (the in-side norm times the out-side norm), and `topIndices` keeps the k best. Which pieces to keep is the caller's
 * decision (T3 lesson 05's after.ts).
 *
 * The static SIF model (shared/model/static-sif.ts): its principal-component removal x − (x·u)u is linear, so it can
 * be folded into the table (`foldedStaticTable`: table · (I − uuᵀ)); the model's output before the L2 norm is then
 * the masked mean of folded rows, and dropping a column of the folded table drops exactly that coordinate of the
 * output. `columnEnergy` scores columns, `keepColumns` keeps some, and `buildStaticTableModel` writes the graph
 * (Gather → masked mean → L2 norm) over any table, e.g. a column-pruned one.
 */

/** Indices of the k largest scores, in ascending index order (ties: the lower index first). */
export function topIndices(scores: ArrayLike<number>, k: number): number[] {
  if (!Number.isInteger(k) || k < 0 || k > scores.length) throw new RagError('INVALID_INPUT', `prune: cannot keep ${k} of ${scores.length}`);
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, k).sort((a, b) => a - b);
}

/** How many of `n` pieces stay when a share `remove` (0..1) of them is pruned: round(n · (1 − remove)), at least 1. */
export function keptCount(n: number, remove: number): number {
  if (!(remove >= 0 && remove < 1)) throw new RagError('INVALID_INPUT', `prune: the share to remove must be in [0, 1), got ${remove}`);
  return Math.max(1, Math.round(n * (1 - remove)));
}

/** Widths of every layer: `w.layerShapes`, or the config's for an unpruned weight set. */
export function layerShapesOf(w: EncoderWeights): { heads: number; ffn: number }[] {
  const c = encoderConfig(w.config);
  return w.layerShapes ? w.layerShapes.map((s) => ({ ...s })) : Array.from({ length: c.layers }, () => ({ heads: c.heads, ffn: c.ffn }));
}

function tensor(w: EncoderWeights, name: string): WeightTensor {
  const t = w.tensors.get(name);
  if (!t) throw new RagError('INVALID_INPUT', `prune: the weights have no tensor '${name}'`);
  return t;
}

/** Σ of squares of column c of a [rows, cols] matrix. */
function columnSquares(data: Float32Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c] += data[r * cols + c] * data[r * cols + c];
  return out;
}

/** Σ of squares of each row of a [rows, cols] matrix. */
function rowSquares(data: Float32Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r] += data[r * cols + c] * data[r * cols + c];
  return out;
}

/**
 * Importance of each FFN neuron of `layer` from its weights: ‖ffn.up[:, j]‖ · ‖ffn.down[j, :]‖, how strongly the
 * neuron can read its input times how strongly it writes the output. Either factor alone misses a neuron that is
 * loud on one side and silent on the other.
 */
export function ffnNeuronImportance(w: EncoderWeights, layer: number): Float64Array {
  const up = tensor(w, `layer.${layer}.ffn.up.weight`);
  const down = tensor(w, `layer.${layer}.ffn.down.weight`);
  const [h, f] = up.dims;
  const inSide = columnSquares(up.data, h, f);
  const outSide = rowSquares(down.data, down.dims[0], down.dims[1]);
  if (down.dims[0] !== f) throw new RagError('INVALID_INPUT', `prune: layer ${layer}: ffn.up has ${f} neurons, ffn.down ${down.dims[0]} input rows`);
  return inSide.map((s, j) => Math.sqrt(s * outSide[j]));
}

/**
 * Importance of each attention head of `layer` from its weights: ‖v[:, head]‖_F · ‖out[head, :]‖_F, the value path
 * through the head (q and k only decide where a head looks; v and out decide how much it adds).
 */
export function headImportance(w: EncoderWeights, layer: number): Float64Array {
  const c = encoderConfig(w.config);
  const d = c.hidden / c.heads;
  const v = tensor(w, `layer.${layer}.attn.v.weight`);
  const out = tensor(w, `layer.${layer}.attn.out.weight`);
  const heads = v.dims[1] / d;
  const vCols = columnSquares(v.data, v.dims[0], v.dims[1]);
  const outRows = rowSquares(out.data, out.dims[0], out.dims[1]);
  const scores = new Float64Array(heads);
  for (let h = 0; h < heads; h++) {
    let a = 0;
    let b = 0;
    for (let j = h * d; j < (h + 1) * d; j++) {
      a += vCols[j];
      b += outRows[j];
    }
    scores[h] = Math.sqrt(a * b);
  }
  return scores;
}

/** Keep columns `keep` (ascending) of a [rows, cols] matrix. */
export function keepColumns(data: Float32Array, rows: number, cols: number, keep: readonly number[]): Float32Array {
  const out = new Float32Array(rows * keep.length);
  for (let r = 0; r < rows; r++) for (let k = 0; k < keep.length; k++) out[r * keep.length + k] = data[r * cols + keep[k]];
  return out;
}

/** Keep rows `keep` (ascending) of a [rows, cols] matrix. */
export function keepRows(data: Float32Array, cols: number, keep: readonly number[]): Float32Array {
  const out = new Float32Array(keep.length * cols);
  for (let k = 0; k < keep.length; k++) out.set(data.subarray(keep[k] * cols, (keep[k] + 1) * cols), k * cols);
  return out;
}

function checkIndices(what: string, keep: readonly number[], n: number): void {
  if (keep.length === 0) throw new RagError('INVALID_INPUT', `prune: ${what}: keeps nothing (at least one must stay)`);
  for (let i = 0; i < keep.length; i++) {
    if (!Number.isInteger(keep[i]) || keep[i] < 0 || keep[i] >= n || (i > 0 && keep[i] <= keep[i - 1])) {
      throw new RagError('INVALID_INPUT', `prune: ${what}: indices must be distinct, ascending and in 0..${n - 1}, got [${keep.join(', ')}]`);
    }
  }
}

/** Per layer, what to keep: FFN neuron indices and head indices (ascending; `undefined` keeps all). */
export interface EncoderKeep {
  ffn?: readonly (readonly number[] | undefined)[];
  heads?: readonly (readonly number[] | undefined)[];
}

/**
 * The weights with only the kept FFN neurons and heads: up's columns + bias and down's rows for neurons; q/k/v columns
 * + biases and out's rows for heads. Every other tensor is shared unchanged. `layerShapes` records the new widths.
 */
export function pruneEncoderWeights(w: EncoderWeights, keep: EncoderKeep): EncoderWeights {
  const c = encoderConfig(w.config);
  const d = c.hidden / c.heads;
  const shapes = layerShapesOf(w);
  const tensors = new Map(w.tensors);
  const set = (name: string, dims: number[], data: Float32Array) => tensors.set(name, { dims, data });
  for (let i = 0; i < c.layers; i++) {
    const p = `layer.${i}`;
    const neurons = keep.ffn?.[i];
    if (neurons) {
      const up = tensor(w, `${p}.ffn.up.weight`);
      const [h, f] = up.dims;
      checkIndices(`layer ${i} FFN neurons`, neurons, f);
      set(`${p}.ffn.up.weight`, [h, neurons.length], keepColumns(up.data, h, f, neurons));
      set(`${p}.ffn.up.bias`, [neurons.length], keepColumns(tensor(w, `${p}.ffn.up.bias`).data, 1, f, neurons));
      set(`${p}.ffn.down.weight`, [neurons.length, c.hidden], keepRows(tensor(w, `${p}.ffn.down.weight`).data, c.hidden, neurons));
      shapes[i].ffn = neurons.length;
    }
    const heads = keep.heads?.[i];
    if (heads) {
      checkIndices(`layer ${i} heads`, heads, shapes[i].heads);
      const cols = heads.flatMap((hd) => Array.from({ length: d }, (_, j) => hd * d + j));
      const a = shapes[i].heads * d;
      for (const m of ['q', 'k', 'v']) {
        set(`${p}.attn.${m}.weight`, [c.hidden, cols.length], keepColumns(tensor(w, `${p}.attn.${m}.weight`).data, c.hidden, a, cols));
        set(`${p}.attn.${m}.bias`, [cols.length], keepColumns(tensor(w, `${p}.attn.${m}.bias`).data, 1, a, cols));
      }
      set(`${p}.attn.out.weight`, [cols.length, c.hidden], keepRows(tensor(w, `${p}.attn.out.weight`).data, c.hidden, cols));
      shapes[i].heads = heads.length;
    }
  }
  return { config: w.config, tensors, layerShapes: shapes };
}

/** Float32 parameters of a weight set (what its model stores, give or take a few shape constants). */
export function parameterCount(w: EncoderWeights): number {
  let n = 0;
  for (const t of w.tensors.values()) n += t.data.length;
  return n;
}

// ---- the static SIF model ----

export interface StaticTable {
  /** [rows, dim], row-major; row 0 is the padding row (zeros). */
  table: Float32Array;
  rows: number;
  dim: number;
}

/**
 * The table of a static SIF model (shared/model/static-sif.ts) with its principal-component removal folded in:
 * row · (I − uuᵀ). The masked mean of folded rows is exactly the model's vector before its L2 norm.
 */
export function foldedStaticTable(model: Uint8Array): StaticTable {
  const init = initializersOf(model);
  const t = init.get('sif_table');
  if (!t || t.dims.length !== 2) throw new RagError('INVALID_INPUT', "prune: the model has no 2-D float32 'sif_table' (build it with buildStaticSifModel)");
  const [rows, dim] = t.dims;
  const table = floatsOf(t);
  // GraphBuilder names constants `<hint>_<n>`: the column form of the component is sif_component_<n> ([dim, 1])
  const comp = [...init.values()].find((x) => /^sif_component_\d+$/.test(x.name));
  if (comp) {
    const u = floatsOf(comp);
    for (let r = 0; r < rows; r++) {
      const row = table.subarray(r * dim, (r + 1) * dim);
      let dot = 0;
      for (let k = 0; k < dim; k++) dot += row[k] * u[k];
      for (let k = 0; k < dim; k++) row[k] -= dot * u[k];
    }
  }
  return { table, rows, dim };
}

/** Σ over rows of table[r][c]², per column c: how much of the vectors' length each dimension carries. */
export function columnEnergy(table: Float32Array, rows: number, dim: number): Float64Array {
  return columnSquares(table, rows, dim);
}

/**
 * A static embedding model over `table` [rows, dim]: Gather the ids' rows, masked mean, L2 norm (a zero row stays
 * zero). Same inputs and output name as the static SIF model (`embedding`), so `sifTokenIds` feeds it.
 */
export function buildStaticTableModel(t: StaticTable, name = 'static-table'): Uint8Array {
  const { table, rows, dim } = t;
  if (table.length !== rows * dim) throw new RagError('INVALID_INPUT', `prune: table has ${table.length} values, not ${rows} × ${dim}`);
  const g = new GraphBuilder(name);
  const ids = g.input('input_ids', 'int64', ['batch', 'seq']);
  const mask = g.input('attention_mask', 'int64', ['batch', 'seq']);
  const emb = g.op('Gather', [g.initializer('sif_table', 'float32', [rows, dim], table), ids], { axis: 0 }); // [B, S, D]
  const m = g.op('Cast', [mask], { to: 1 /* FLOAT */ });
  const sum = g.op('ReduceSum', [g.op('Mul', [emb, g.op('Unsqueeze', [m, g.ints([-1])])]), g.ints([1])], { keepdims: 0 }); // [B, D]
  const n = g.op('Max', [g.op('ReduceSum', [m, g.ints([1])], { keepdims: 1 }), g.floats([1], [])]);
  const x = g.op('Div', [sum, n]);
  const norm = g.op('Sqrt', [g.op('ReduceSumSquare', [x, g.ints([1])], { keepdims: 1 })]);
  g.node('Div', [x, g.op('Max', [norm, g.floats([1e-30], [])])], {}, { outputs: ['embedding'] });
  g.output('embedding', 'float32', ['batch', dim]);
  return g.toBytes({ docString: `static embedding table ${rows} × ${dim} (rag-perf-lab shared/model/prune.ts)` });
}

/**
 * The principal axes of a table's rows (eigenvectors of Σ_r row·rowᵀ, not centred), strongest first: `vectors` is
 * [dim, dim] row-major with axis k in column k; `values` the energy along each. The eigen-decomposition is
 * distill.ts's `symmetricEigen` (cyclic Jacobi in float64: exact to rounding, fine for dim ≤ a few hundred).
 */
export function principalAxes(table: Float32Array, rows: number, dim: number): { values: Float64Array; vectors: Float64Array } {
  const a = new Float64Array(dim * dim);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < dim; i++) {
      const x = table[r * dim + i];
      if (x === 0) continue;
      for (let j = 0; j < dim; j++) a[i * dim + j] += x * table[r * dim + j];
    }
  }
  // eigenvectors as rows (distill.ts); here axis k is column k
  const eig = symmetricEigen(a, dim);
  const vectors = new Float64Array(dim * dim);
  for (let r = 0; r < dim; r++) for (let k = 0; k < dim; k++) vectors[r * dim + k] = eig.vectors[k * dim + r];
  const values = eig.values;
  return { values, vectors };
}

/** The table in the principal axes' coordinates (row · vectors): column k is the row's component along axis k. */
export function rotateTable(t: StaticTable, vectors: Float64Array): StaticTable {
  const { table, rows, dim } = t;
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < dim; k++) {
      let s = 0;
      for (let i = 0; i < dim; i++) s += table[r * dim + i] * vectors[i * dim + k];
      out[r * dim + k] = s;
    }
  }
  return { table: out, rows, dim };
}
