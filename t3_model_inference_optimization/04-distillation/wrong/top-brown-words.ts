/**
 * Wrong (on purpose): a general vocabulary instead of the corpus's: the 20,000 most frequent words of the Brown
 * corpus (a reference sample of English), whatever the corpus and its queries say. It looks safe (the words most
 * texts use), but a corpus's own terms ("hypersonic", "nusselt", a product name) are rare in general English: they
 * get no row, and a query made of them embeds to what is left of it, or to the zero row.
 *
 * What differs from after.ts: the vocabulary is the top 20,000 Brown words the teacher uses, not the texts' words.
 *
 * @rejected-with have no row in the student
 */
import { loadBrown } from '../../../shared/corpus/brown.ts';
import type { SifEmbedder } from '../../../shared/embed/sif.ts';
import { buildStudentModel, principalAxes, projectRows, teacherEmbeddings, teacherTokens, withoutComponent, type StaticModel } from '../../../shared/model/distill.ts';
import { corpusVocabulary } from '../../../shared/model/static-sif.ts';
import { tokenize } from '../../../shared/text/tokenize.ts';

export type { Distill } from '../after.ts';

const TOP = 20_000;
let brownCounts: Promise<Map<string, number>> | undefined;

function countBrown(): Promise<Map<string, number>> {
  brownCounts ??= loadBrown().then((docs) => {
    const counts = new Map<string, number>();
    for (const doc of docs) for (const tok of tokenize(doc.text)) counts.set(tok, (counts.get(tok) ?? 0) + 1);
    return counts;
  });
  return brownCounts;
}

export async function distill(teacher: SifEmbedder, texts: readonly string[], dim: number): Promise<StaticModel> {
  const d = teacher.dim;
  const counts = await countBrown();
  const known = corpusVocabulary(teacher, counts.keys());
  const top = known.sort((a, b) => counts.get(b)! - counts.get(a)! || (a < b ? -1 : 1)).slice(0, TOP);
  const tokens = teacherTokens(teacher, top, texts);
  const rows = withoutComponent(tokens.rows, d, tokens.component);
  const { axes } = principalAxes(teacherEmbeddings(teacher, texts), d, dim);
  return buildStudentModel(tokens.words, projectRows(rows, d, axes, dim), dim);
}
