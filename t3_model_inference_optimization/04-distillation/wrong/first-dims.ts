/**
 * Wrong (on purpose): keep the first `dim` of the teacher's 100 columns. GloVe's coordinates are not ordered by
 * importance (its training is invariant to rotating the space): column 1 carries no more of the similarities than
 * column 100, so cutting 52 of them drops about half of every vector, whichever half it is.
 *
 * What differs from after.ts: the axes are the unit vectors e_1..e_dim, not principal axes.
 *
 * @rejected-with of the teacher's top-10 neighbours
 */
import type { SifEmbedder } from '../../../shared/embed/sif.ts';
import { buildStudentModel, teacherTokens, withoutComponent, type StaticModel } from '../../../shared/model/distill.ts';
import { corpusVocabulary } from '../../../shared/model/static-sif.ts';

export type { Distill } from '../after.ts';

export async function distill(teacher: SifEmbedder, texts: readonly string[], dim: number): Promise<StaticModel> {
  const d = teacher.dim;
  const tokens = teacherTokens(teacher, corpusVocabulary(teacher, texts), texts);
  const rows = withoutComponent(tokens.rows, d, tokens.component);
  const n = tokens.words.length;
  const table = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) table.set(rows.subarray(i * d, i * d + dim), i * dim);
  return buildStudentModel(tokens.words, table, dim);
}
