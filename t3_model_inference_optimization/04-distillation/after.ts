/**
 * 04-distillation, after: the 341k-word, 100-d teacher distilled into a Model2Vec-style static student: the words the
 * corpus and its queries use, `dim` columns instead of 100.
 *
 * The teacher (shared/model/static-sif.ts) embeds a text as x = m − (m·u)u, normalised, where m is the mean of its
 * words' table rows t(w) = a/(a + p(w)) · v(w) (the SIF weight folded into GloVe's vector) and u is the common
 * component the teacher removed after fitting. Both steps are linear, so x is the mean of the rows
 * t(w) − (t(w)·u)u: the teacher's similarities are those of these per-word vectors, averaged. The student keeps
 * exactly them, in fewer numbers:
 *
 *   1. vocabulary: every word of the texts it will embed (the corpus and its queries) that the teacher uses;
 *   2. rows: the teacher's own, SIF weight in and common component out (not the raw GloVe vectors, not the table as
 *      stored with the common direction still in every row);
 *   3. the decision: the axes. Project onto the top `dim` principal axes of the teacher's embeddings of those texts
 *      (covariance about their mean; each text's words weighted as the teacher weighs them, each word counted as
 *      often as the corpus uses it). For x written in any orthonormal basis, ‖x − PPᵀx‖² summed over the texts is
 *      smallest when P holds the top eigenvectors of Σ x xᵀ: no other `dim` directions keep more of the teacher's
 *      vectors, so none keeps more of their cosines. At dim = 100 the student is the teacher rotated.
 *
 * The student's graph is the teacher's without the component node: Gather → masked mean → L2 norm. Bytes: rows ×
 * dim × 4 instead of 341,480 × 100 × 4. The building blocks are the engine's (shared/model/distill.ts;
 * `distillSif` is this recipe as an engine function).
 */
import type { SifEmbedder } from '../../shared/embed/sif.ts';
import { buildStudentModel, principalAxes, projectRows, teacherEmbeddings, teacherTokens, withoutComponent, type StaticModel } from '../../shared/model/distill.ts';
import { corpusVocabulary } from '../../shared/model/static-sif.ts';

/**
 * A fitted teacher + the texts the model must embed (corpus and queries) + a width → a static ONNX model (bytes, its
 * tokenizer, its table). `dim` is 1..the teacher's 100.
 */
export type Distill = (teacher: SifEmbedder, texts: readonly string[], dim: number) => Promise<StaticModel>;

export async function distill(teacher: SifEmbedder, texts: readonly string[], dim: number): Promise<StaticModel> {
  const d = teacher.dim;
  // 1 + 2: the corpus's words, with the teacher's rows for them and the teacher's common component removed from each
  const tokens = teacherTokens(teacher, corpusVocabulary(teacher, texts), texts);
  const rows = withoutComponent(tokens.rows, d, tokens.component);
  // 3: the top `dim` principal axes of the teacher's embeddings of the texts (centred)
  const { axes } = principalAxes(teacherEmbeddings(teacher, texts), d, dim);
  return buildStudentModel(tokens.words, projectRows(rows, d, axes, dim), dim);
}
