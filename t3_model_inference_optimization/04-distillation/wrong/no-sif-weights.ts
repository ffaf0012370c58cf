/**
 * Wrong (on purpose): cut the vocabulary by copying the words' GloVe vectors, not the teacher's rows. The teacher's
 * table holds a/(a + p(w)) · v(w): frequent words ("said", "time", "new") count up to ~100× less than rare ones. The
 * raw vectors drop that weight, so in the student's average the most frequent words dominate every text, and its
 * vectors are no longer the teacher's, at any width.
 *
 * What differs from after.ts: rows are v(w) (weight 1), not t(w) = a/(a + p(w)) · v(w); the rest is the same.
 *
 * @rejected-with not the teacher rotated
 */
import type { SifEmbedder } from '../../../shared/embed/sif.ts';
import { buildStudentModel, principalAxes, projectRows, teacherEmbeddings, teacherTokens, withoutComponent, type StaticModel } from '../../../shared/model/distill.ts';
import { corpusVocabulary } from '../../../shared/model/static-sif.ts';

export type { Distill } from '../after.ts';

export async function distill(teacher: SifEmbedder, texts: readonly string[], dim: number): Promise<StaticModel> {
  const d = teacher.dim;
  const tokens = teacherTokens(teacher, corpusVocabulary(teacher, texts), texts);
  const { glove } = teacher.tables();
  const raw = new Float32Array(tokens.rows.length);
  tokens.ranks.forEach((r, i) => glove.addScaled(r, 1, raw.subarray(i * d, (i + 1) * d)));
  const rows = withoutComponent(raw, d, tokens.component);
  const { axes } = principalAxes(teacherEmbeddings(teacher, texts), d, dim);
  return buildStudentModel(tokens.words, projectRows(rows, d, axes, dim), dim);
}
