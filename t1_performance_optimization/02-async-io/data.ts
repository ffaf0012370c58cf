/** The lesson's corpus on disk: Brown documents written as plain-text files into a temporary folder. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBrown } from '../../shared/corpus/brown.ts';

/**
 * Writes `n` documents as `<name>.txt` (ca01.txt ...) into a new folder under the OS temp dir and returns the
 * folder and the file paths in Brown order. Beyond 500, the corpus repeats with a suffix (ca01-2.txt ...).
 */
export async function writeCorpus(n: number): Promise<{ dir: string; files: string[] }> {
  const docs = await loadBrown({ limit: Math.min(n, 500) });
  const dir = await mkdtemp(join(tmpdir(), 'rag-lab-02-async-io-'));
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const doc = docs[i % docs.length];
    const name = doc.id.replace(/^brown\//, '') + (i >= docs.length ? `-${Math.floor(i / docs.length) + 1}` : '');
    const file = join(dir, `${name}.txt`);
    await writeFile(file, doc.text);
    files.push(file);
  }
  return { dir, files };
}

export function removeCorpus(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}
