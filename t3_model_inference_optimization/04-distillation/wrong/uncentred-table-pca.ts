/**
 * Wrong (on purpose): PCA of the teacher's table as it is stored, without centring. Those rows all share one large
 * direction (the teacher removes it from every text after averaging: its common component u). Uncentred, the first
 * principal axis is that direction; the student keeps it in every row and has no step to remove it, so every text
 * leans the same way and unrelated texts look alike.
 *
 * What differs from after.ts: the axes come from the uncentred second moment of the stored rows (common component
 * still in), and those rows are projected.
 *
 * @rejected-with keeps the common direction
 */
import type { SifEmbedder } from '../../../shared/embed/sif.ts';
import { buildStudentModel, principalAxes, projectRows, teacherTokens, type StaticModel } from '../../../shared/model/distill.ts';
import { corpusVocabulary } from '../../../shared/model/static-sif.ts';

export type { Distill } from '../after.ts';

export async function distill(teacher: SifEmbedder, texts: readonly string[], dim: number): Promise<StaticModel> {
  const d = teacher.dim;
  const tokens = teacherTokens(teacher, corpusVocabulary(teacher, texts), texts);
  const { axes } = principalAxes(tokens.rows, d, dim, { centre: false });
  return buildStudentModel(tokens.words, projectRows(tokens.rows, d, axes, dim), dim);
}
