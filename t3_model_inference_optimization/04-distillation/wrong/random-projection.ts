/**
 * Wrong (on purpose): a random projection. Johnson–Lindenstrauss says a random Gaussian map to k dimensions keeps
 * distances within 1 ± ε, but ε shrinks like 1/√k: at k = 48, cosines move by about ±0.15, far more than the gaps
 * between a document's 10th and 30th neighbour. It spends the student's few columns on random directions instead of
 * the ones the teacher's vectors actually vary along.
 *
 * What differs from after.ts: the axes are seeded Gaussian draws (scaled 1/√k), not principal axes.
 *
 * @rejected-with of the teacher's top-10 neighbours
 */
import type { SifEmbedder } from '../../../shared/embed/sif.ts';
import { buildStudentModel, projectRows, teacherTokens, withoutComponent, type StaticModel } from '../../../shared/model/distill.ts';
import { corpusVocabulary } from '../../../shared/model/static-sif.ts';
import { gaussian, mulberry32 } from '../../../shared/util/random.ts';

export type { Distill } from '../after.ts';

export async function distill(teacher: SifEmbedder, texts: readonly string[], dim: number): Promise<StaticModel> {
  const d = teacher.dim;
  const tokens = teacherTokens(teacher, corpusVocabulary(teacher, texts), texts);
  const rows = withoutComponent(tokens.rows, d, tokens.component);
  const draw = gaussian(mulberry32(42));
  const axes = Float32Array.from({ length: dim * d }, () => draw() / Math.sqrt(dim));
  return buildStudentModel(tokens.words, projectRows(rows, d, axes, dim), dim);
}
