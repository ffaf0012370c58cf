/**
 * The history the checkpoint and the benchmark replay: version 1 ingests n Brown documents, and every later write is
 * one of
 *
 *     edit a document     85%   one to three edits by the seeded edit model (shared/versions/edits.ts), re-ingested
 *     edit two at once     4%   one ingest of two edited documents
 *     add a document       6%   the next Brown document not used yet
 *     delete a document    5%   (while more than two are left)
 *
 * `statesOf` replays a list of writes into the documents of every version (index v = after write v; 0 = empty):
 * the reference any history must agree with.
 */
import { mulberry32 } from '../../shared/util/random.ts';
import { createEditModel } from '../../shared/versions/edits.ts';
import type { Doc } from '../../shared/types.ts';
import type { WriteOp } from './types.ts';

export interface PlanOptions {
  /** Documents ingested by version 1. */
  docs: number;
  /** Writes in all, version 1 included. */
  writes: number;
  seed: number;
}

export function planHistory(pool: readonly Doc[], opts: PlanOptions): WriteOp[] {
  if (opts.docs > pool.length) throw new RangeError(`planHistory: ${opts.docs} documents asked, the pool has ${pool.length}`);
  const rand = mulberry32(opts.seed);
  const model = createEditModel(pool, opts.seed);
  const live = new Map<string, Doc>(pool.slice(0, opts.docs).map((d) => [d.id, d]));
  let next = opts.docs;
  const ops: WriteOp[] = [{ kind: 'ingest', docs: [...live.values()] }];
  const pick = () => [...live.keys()][Math.floor(rand() * live.size)];
  const edited = (id: string): Doc => {
    const doc = { ...live.get(id)!, text: model.edit(live.get(id)!.text) };
    live.set(id, doc);
    return doc;
  };
  while (ops.length < opts.writes) {
    const r = rand();
    if (r < 0.05 && live.size > 2) {
      const id = pick();
      live.delete(id);
      ops.push({ kind: 'delete', ids: [id] });
    } else if (r < 0.11 && next < pool.length) {
      const doc = pool[next++];
      live.set(doc.id, doc);
      ops.push({ kind: 'ingest', docs: [doc] });
    } else if (r < 0.15 && live.size > 1) {
      const a = pick();
      let b = pick();
      while (b === a) b = pick();
      ops.push({ kind: 'ingest', docs: [edited(a), edited(b)] });
    } else {
      ops.push({ kind: 'ingest', docs: [edited(pick())] });
    }
  }
  return ops;
}

/** The documents after each write: states[0] is empty, states[v] follows write v (ops[v − 1]). */
export function statesOf(ops: readonly WriteOp[]): Array<Map<string, Doc>> {
  const states = [new Map<string, Doc>()];
  for (const op of ops) {
    const next = new Map(states[states.length - 1]);
    if (op.kind === 'ingest') for (const d of op.docs) next.set(d.id, d);
    else for (const id of op.ids) next.delete(id);
    states.push(next);
  }
  return states;
}
