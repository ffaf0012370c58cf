import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where test datasets live: `$LAB_DATASETS/<name>` when set, else `../shared/datasets/<name>` beside the repository.
 * Returns undefined when the dataset is absent (tests skip with a message).
 */
export function datasetDir(name: string): string | undefined {
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const candidates = [
    process.env.LAB_DATASETS ? resolve(process.env.LAB_DATASETS, name) : undefined,
    resolve(repoRoot, '..', 'shared', 'datasets', name),
  ];
  return candidates.find((dir): dir is string => dir !== undefined && existsSync(dir));
}
