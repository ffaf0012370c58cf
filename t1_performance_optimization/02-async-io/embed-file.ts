/**
 * One unit of work, the same in every version: read a document file, send its text to the embedding service,
 * return the vector. Errors name the file: a missing file is RagError('NOT_FOUND'), a failing call
 * RagError('EMBED_FAILED') with the service's status and message.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { RagError } from '../../shared/errors.ts';

export interface EmbedClient {
  /** Base URL of the embedding service, e.g. 'http://127.0.0.1:41234'. */
  url: string;
}

export interface Embedded {
  /** File name, e.g. 'ca01.txt'. */
  id: string;
  /** Characters in the file. */
  chars: number;
  vector: number[];
}

export interface EmbedOptions {
  /** Most files in progress at once (read or embedding call). Default 8. */
  concurrency?: number;
}

export function concurrencyOf(opts: EmbedOptions): number {
  const c = opts.concurrency ?? 8;
  if (!Number.isInteger(c) || c < 1) throw new RangeError(`concurrency must be a positive integer, got ${c}`);
  return c;
}

export async function embedFile(file: string, client: EmbedClient): Promise<Embedded> {
  const id = basename(file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new RagError('NOT_FOUND', `${id}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  let res: Response;
  try {
    res = await fetch(`${client.url}/embed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text }),
    });
  } catch (err) {
    throw new RagError('EMBED_FAILED', `${id}: embedding service unreachable at ${client.url} (${(err as Error).message})`);
  }
  const payload = (await res.json()) as { vector?: number[]; error?: string };
  if (!res.ok || payload.vector === undefined) {
    throw new RagError('EMBED_FAILED', `${id}: embedding service answered ${res.status}: ${payload.error ?? 'no vector'}`);
  }
  return { id, chars: text.length, vector: payload.vector };
}
