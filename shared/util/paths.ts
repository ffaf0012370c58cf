import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is <root>/shared/util/paths.ts). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Where the human-judged test collections live: env LAB_DATASETS, else `../shared/datasets` beside the repository.
 * They are read from there, never copied into the repository.
 */
export function datasetsDir(): string {
  return process.env.LAB_DATASETS ? resolve(process.env.LAB_DATASETS) : resolve(REPO_ROOT, '..', 'shared', 'datasets');
}

/** The folder of one collection, or undefined when it is not on this machine (callers skip with a message). */
export function findDataset(name: string): string | undefined {
  const dir = join(datasetsDir(), name);
  return existsSync(join(dir, 'corpus.jsonl')) ? dir : undefined;
}
