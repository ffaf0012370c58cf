/**
 * 04-distillation, before: the teacher as shipped. The engine's SIF-weighted GloVe-100d embedder as an ONNX graph
 * (shared/model/static-sif.ts) with its whole table: 341,479 words + the padding row, × 100 float32 = 136.6 MB, for a
 * corpus that uses a few thousand of those words.
 *
 * `distill` ignores the texts and the width: it is the baseline every student is compared with (its neighbours are
 * the teacher's by definition, its size is what distillation removes).
 */
import type { SifEmbedder } from '../../shared/embed/sif.ts';
import { teacherModel, type StaticModel } from '../../shared/model/distill.ts';

export type { Distill } from './after.ts';

const built = new WeakMap<SifEmbedder, StaticModel>();

/** The teacher's whole table, 100-d, whatever the texts and `dim` (built once per teacher: 136.6 MB each time). */
export async function distill(teacher: SifEmbedder, _texts: readonly string[], _dim: number): Promise<StaticModel> {
  let m = built.get(teacher);
  if (!m) {
    m = teacherModel(teacher);
    built.set(teacher, m);
  }
  return m;
}
