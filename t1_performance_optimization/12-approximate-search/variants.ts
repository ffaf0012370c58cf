/**
 * The same HNSW idea from a second library: `usearch` (Unum), behind the lesson's `AnnIndex` interface.
 *
 * - `connectivity` is M, `expansion_add` is efConstruction, `expansion_search` is ef; metric 'cos'. Keys are BigInt.
 * - Build and search run on one thread here (`threads = 1`), like hnswlib's `addPoint`/`searchKnn`, so the two
 *   libraries are compared like for like (usearch can build with all cores: pass threads = 0).
 * - usearch's JS binding fixes `expansion_search` when the index is constructed. `setEf` therefore saves the graph once
 *   to a temporary file and loads it into a new index configured with the new ef (a few ms for 20k vectors); `close`
 *   deletes the file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import usearch, { type IndexConfig } from 'usearch';
import { RagError } from '../../shared/errors.ts';
import { DEFAULTS } from './after.ts';
import type { AnnIndex, AnnOptions, Hit } from './before.ts';

function config(dim: number, M: number, efConstruction: number, ef: number): IndexConfig {
  return {
    dimensions: dim,
    metric: usearch.MetricKind.Cos,
    quantization: usearch.ScalarKind.F32,
    connectivity: M,
    expansion_add: efConstruction,
    expansion_search: ef,
    multi: false,
  };
}

export function buildUsearchIndex(vectors: Float32Array[], opts: AnnOptions = {}): AnnIndex {
  const n = vectors.length;
  const dim = vectors[0]?.length ?? 1;
  const M = opts.M ?? DEFAULTS.M;
  const efConstruction = opts.efConstruction ?? DEFAULTS.efConstruction;
  let index = new usearch.Index(config(dim, M, efConstruction, opts.ef ?? DEFAULTS.ef));
  if (n > 0) {
    const matrix = new Float32Array(n * dim);
    vectors.forEach((v, i) => matrix.set(v, i * dim));
    index.add(BigUint64Array.from({ length: n }, (_, i) => BigInt(i)), matrix, 1);
  }
  const nKeys = BigInt(n);
  let dir: string | undefined;
  return {
    kind: 'usearch',
    get size() {
      return index.size();
    },
    search(query: Float32Array, k: number): Hit[] {
      if (query.length !== dim) throw new RagError('INVALID_INPUT', `usearch search: query has dim ${query.length}, index has dim ${dim}`);
      const kk = Math.min(Math.floor(k), index.size());
      if (!(kk > 0)) return [];
      const m = index.search(query, kk, 1);
      const out: Hit[] = [];
      for (let i = 0; i < m.keys.length; i++) {
        // cos distance = 1 − cosine; unfilled slots (fewer than k found) are padded with a max key
        if (m.keys[i] >= nKeys) continue;
        out.push({ label: Number(m.keys[i]), score: 1 - m.distances[i] });
      }
      return out;
    },
    setEf(ef: number) {
      if (!Number.isInteger(ef) || ef <= 0) throw new RagError('INVALID_INPUT', `usearch setEf: ef must be a positive integer, got ${ef}`);
      dir ??= mkdtempSync(join(tmpdir(), 'lesson12-usearch-'));
      const file = join(dir, 'index.usearch');
      index.save(file);
      const next = new usearch.Index(config(dim, M, efConstruction, ef));
      next.load(file);
      index = next;
    },
    close() {
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    },
  };
}
