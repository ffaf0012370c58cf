/**
 * Wrong (on purpose): after.ts's parallel arrays, and the answer reused too: the fuser keeps one result array and one
 * hit object per place and rewrites them on every fusion. A fusion then allocates nothing at all, but the hits it
 * returned last time are the same objects: a caller still holding them (a response being serialised, a cache entry,
 * the previous page of results) sees them change under it.
 *
 * What differs from after.ts: what `fuse` returns, the fuser's own reused array of reused hit objects, rewritten with
 * after.ts's hits. (A learner would write the slots straight into them and allocate nothing; copying after.ts's
 * fresh hits in keeps this file to the mistake, and the caller sees the same thing: its hits change.)
 *
 * @rejected-with changed when the next fusion ran
 */
import { createFuser as createAfter, type FusedLabel, type FusionOptions, type Fuser } from '../after.ts';

export type { FusedLabel, FusionOptions, Fuser } from '../after.ts';

export function createFuser(opts: FusionOptions = {}): Fuser {
  const fuser = createAfter(opts);
  /** The answer, reused: one array and one hit object per place, rewritten by every fusion. */
  const hits: FusedLabel[] = [];
  return {
    fuse(lists, k) {
      const fresh = fuser.fuse(lists, k);
      hits.length = fresh.length;
      fresh.forEach((f, i) => {
        const hit = (hits[i] ??= { label: 0, score: 0, sources: [] });
        hit.label = f.label;
        hit.score = f.score;
        hit.sources.length = 0;
        hit.sources.push(...f.sources);
      });
      return hits;
    },
  };
}
