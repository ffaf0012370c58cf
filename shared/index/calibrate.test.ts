import { describe, expect, it } from 'vitest';
import { expectRagError } from '../util/expect-rag-error.ts';
import { gaussian, mulberry32 } from '../util/random.ts';
import { calibrateEfSearch, recallAtEf } from './calibrate.ts';
import { FlatIndex } from './flat.ts';
import { CompactHnswIndex } from './hnsw-i8.ts';

const DIM = 24;

/** Seeded points around 30 centres; queries are fresh points from the same distribution (not in the index). */
function clustered(n: number, seed: number): Float32Array[] {
  const g = gaussian(mulberry32(seed));
  const centres = Array.from({ length: 30 }, () => Float32Array.from({ length: DIM }, g));
  return Array.from({ length: n }, (_, i) => Float32Array.from({ length: DIM }, (_, j) => centres[(i * 7) % 30][j] + 0.25 * g()));
}

// a deliberately weak graph (degree 6, narrow build beam), so a narrow search beam misses neighbours
const data = clustered(4000, 1);
const queries = clustered(120, 2).slice(0, 100);
const labels = data.map((_, i) => i);
const graph = new CompactHnswIndex({ dim: DIM, M: 6, efConstruction: 32, initialCapacity: data.length });
graph.add(labels, data);
const exact = new FlatIndex({ dim: DIM, initialCapacity: data.length });
exact.add(labels, data);
const LADDER = [10, 20, 40, 80, 160, 320, 640];

describe('calibrateEfSearch', () => {
  it('returns the smallest beam of the ladder whose recall reaches the target, and the recall it measured', () => {
    const c = calibrateEfSearch(graph, exact, queries, { target: 0.85, ladder: LADDER });
    expect(c.reached, JSON.stringify(c.tried)).toBe(true);
    // the weak graph does not reach the target at the narrowest beam, so the choice is a real one
    expect(c.tried[0].recall).toBeLessThan(0.85);
    expect(c.ef).toBeGreaterThan(LADDER[0]);
    expect(c.ef).toBeLessThan(LADDER.at(-1)!);
    expect(c.tried.at(-1)).toEqual({ ef: c.ef, recall: c.recall });
    for (const t of c.tried.slice(0, -1)) expect(t.recall).toBeLessThan(0.85);
    expect(c.recall).toBeGreaterThanOrEqual(0.85);
    // the figure is the index's real recall at that beam against exact search
    const truths = queries.map((q) => exact.search(q, 10).map((h) => h.label));
    expect(recallAtEf(graph, queries, truths, 10, c.ef)).toBe(c.recall);
    expect(c.queries).toBe(queries.length);
  });

  it('a higher target never picks a narrower beam', () => {
    const low = calibrateEfSearch(graph, exact, queries, { target: 0.6, ladder: LADDER });
    const high = calibrateEfSearch(graph, exact, queries, { target: 0.95, ladder: LADDER });
    expect(low.ef).toBeLessThan(high.ef);
  });

  it('says so when no beam reaches the target, and returns the widest it tried', () => {
    const c = calibrateEfSearch(graph, exact, queries, { target: 1, ladder: [10, 11] });
    expect(c.reached).toBe(false);
    expect(c.ef).toBe(11);
    expect(c.tried.map((t) => t.ef)).toEqual([10, 11]);
  });

  it('refuses a bad target, ladder or an empty sample with a clear error', () => {
    const bad = [
      () => calibrateEfSearch(graph, exact, queries, { target: 0 }),
      () => calibrateEfSearch(graph, exact, queries, { target: 1.5 }),
      () => calibrateEfSearch(graph, exact, queries, { ladder: [] }),
      () => calibrateEfSearch(graph, exact, queries, { ladder: [20, 10] }),
      () => calibrateEfSearch(graph, exact, [], {}),
    ];
    for (const f of bad) expectRagError(f, /calibrateEfSearch: /);
  });
});
