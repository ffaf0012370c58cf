import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { RagError } from '../errors.ts';

/**
 * Streams a JSON-lines file: calls `onRecord(value, lineNo)` for each non-blank line (1-based line numbers).
 * A line that is not JSON throws RagError('CORRUPT', '<file> line <n>: ...').
 */
export async function readJsonl(file: string, onRecord: (value: unknown, lineNo: number) => void): Promise<void> {
  let lineNo = 0;
  for await (const line of readLines(file)) {
    lineNo++;
    if (line.trim().length === 0) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new RagError('CORRUPT', `${file} line ${lineNo}: not valid JSON (${(err as Error).message})`);
    }
    onRecord(value, lineNo);
  }
}

/** The lines of a UTF-8 text file, streamed (no trailing "\r"). */
export function readLines(file: string): AsyncIterable<string> {
  return createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
}

/** Reads `value.field` as an id: a non-empty string, or a number converted to a string; otherwise undefined. */
export function idField(value: Record<string, unknown>, field: string): string | undefined {
  const v = value[field];
  if (typeof v === 'string' && v.length > 0) return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}
