/**
 * EXERCISE 04-distillation — distil the 341k-word, 100-d teacher into a small static student that keeps its
 * neighbours.
 *
 * As shipped it cuts the teacher's vocabulary to the corpus's words and keeps its 100 columns: correct (every
 * embedding is the teacher's) and not `dim` wide. The checkpoint accepts its neighbours and rejects its width.
 *
 * `distill(teacher, texts, dim)` gets the fitted teacher (a SifEmbedder), every text the student will embed (the
 * corpus and its queries) and the width to reach, and returns a static ONNX model. The teacher embeds a text as the
 * mean of its words' table rows, minus its common component u, normalised. `shared/model/distill.ts` has the parts:
 * `teacherTokens` (the teacher's table rows for a vocabulary, SIF weight folded in, as its table stores them; how
 * often the texts use each word; u), `withoutComponent`, `teacherEmbeddings`, `principalAxes` (top eigenvectors of a
 * weighted covariance, centred or not), `projectRows` and `buildStudentModel` (a words × dim table → a student
 * graph: Gather → mean → L2 norm, no component node). What is yours is the projection: which vectors, onto which
 * `dim` directions, keep the teacher's similarities.
 *
 * What must hold (checked by `npm run checkpoint -- 04-distillation`, on Brown paragraphs and sentences):
 *   - every word of the texts that the teacher uses has a row in the student (no query word falls out);
 *   - the student outputs `dim` columns, and its model is at most (corpus words + 1) × dim float32 plus 16 KB;
 *   - at dim 100 the student is the teacher rotated: every pairwise cosine within 1e-4 of the teacher's;
 *   - unrelated texts stay unrelated: the mean cosine between documents within 0.1 of the teacher's at dim 48;
 *   - at dim 48 the student keeps ≥ 70% of each document's top-10 neighbours (the teacher's), on average.
 *
 * Then measure size, embed time, neighbour overlap and Cranfield nDCG@10 beside the teacher and the students:
 *   npm run t3 -- --only 04-distillation --impl exercise --quick
 * Stuck? npm run hint -- 04-distillation
 */
import type { SifEmbedder } from '../../shared/embed/sif.ts';
import { teacherModel, teacherTokens, type StaticModel } from '../../shared/model/distill.ts';
import { corpusVocabulary } from '../../shared/model/static-sif.ts';

/**
 * A fitted teacher + the texts the model must embed (corpus and queries) + a width → a static ONNX model (bytes, its
 * tokenizer, its table). `dim` is 1..the teacher's 100.
 */
export type Distill = (teacher: SifEmbedder, texts: readonly string[], dim: number) => Promise<StaticModel>;

export async function distill(teacher: SifEmbedder, texts: readonly string[], _dim: number): Promise<StaticModel> {
  const tokens = teacherTokens(teacher, corpusVocabulary(teacher, texts), texts);
  // TODO: a `dim`-wide student from `tokens` (buildStudentModel(tokens.words, table, dim)) that keeps the teacher's
  // similarities. Until then: the teacher itself, cut to these words, 100 wide.
  return teacherModel(teacher, { vocabulary: tokens.words });
}
