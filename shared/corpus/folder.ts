import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { RagError } from '../errors.ts';
import type { Doc, Metadata } from '../types.ts';
import { idField, readJsonl } from './jsonl.ts';

const EXTENSIONS = ['.txt', '.md', '.jsonl'];

/**
 * Loads every `.txt`, `.md` and `.jsonl` file under `dir` (recursively, sorted by path; other files are ignored).
 *
 * - `.txt`: one Doc, id = path relative to `dir` (with `/`), metadata `{ source: 'folder', format: 'txt' }`.
 * - `.md`: the same, with `title` from the first `# ` heading.
 * - `.jsonl`: one Doc per line: `{ id | _id, text, title?, metadata? }`; any other scalar field (string, finite
 *   number, boolean) is added to metadata. id = the line's id.
 *
 * Throws RagError('NOT_FOUND') when `dir` is missing, RagError('CORRUPT', '<file> line <n>: ...') for a bad jsonl
 * line, and RagError('INVALID_INPUT') when two documents share an id.
 */
export async function loadFolder(dir: string): Promise<Doc[]> {
  let s;
  try {
    s = await stat(dir);
  } catch {
    throw new RagError('NOT_FOUND', `folder not found: ${dir}`);
  }
  if (!s.isDirectory()) throw new RagError('NOT_FOUND', `not a folder: ${dir}`);

  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries
    .filter((e) => e.isFile() && EXTENSIONS.some((ext) => e.name.toLowerCase().endsWith(ext)))
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
    .sort();

  const docs: Doc[] = [];
  const seen = new Map<string, string>(); // id → file
  const add = (doc: Doc, where: string) => {
    const prev = seen.get(doc.id);
    if (prev !== undefined) throw new RagError('INVALID_INPUT', `${where}: duplicate document id "${doc.id}" (also in ${prev})`);
    seen.set(doc.id, where);
    docs.push(doc);
  };

  for (const file of files) {
    const rel = relative(dir, file).split(sep).join('/');
    const lower = file.toLowerCase();
    if (lower.endsWith('.jsonl')) {
      await readJsonl(file, (value, lineNo) => add(jsonlDoc(value, file, lineNo), `${file} line ${lineNo}`));
      continue;
    }
    const text = await readFile(file, 'utf8');
    const md = lower.endsWith('.md');
    const doc: Doc = { id: rel, text, metadata: { source: 'folder', format: md ? 'md' : 'txt' } };
    if (md) {
      const heading = /^#[ \t]+(.+?)[ \t#]*$/m.exec(text);
      if (heading) doc.title = heading[1];
    }
    add(doc, file);
  }
  return docs;
}

function jsonlDoc(value: unknown, file: string, lineNo: number): Doc {
  const at = `${file} line ${lineNo}`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new RagError('CORRUPT', `${at}: expected a JSON object`);
  }
  const r = value as Record<string, unknown>;
  const id = idField(r, 'id') ?? idField(r, '_id');
  if (id === undefined) throw new RagError('CORRUPT', `${at}: missing "id" (or "_id")`);
  if (typeof r.text !== 'string') throw new RagError('CORRUPT', `${at}: "text" is not a string`);
  if (r.title !== undefined && typeof r.title !== 'string') throw new RagError('CORRUPT', `${at}: "title" is not a string`);
  const metadata: Metadata = {};
  if (r.metadata !== undefined) {
    if (r.metadata === null || typeof r.metadata !== 'object' || Array.isArray(r.metadata)) {
      throw new RagError('CORRUPT', `${at}: "metadata" is not an object`);
    }
    for (const [k, v] of Object.entries(r.metadata)) {
      if (!isMetaValue(v)) throw new RagError('CORRUPT', `${at}: metadata.${k} is not a string, finite number or boolean`);
      metadata[k] = v;
    }
  }
  for (const [k, v] of Object.entries(r)) {
    if (k === 'id' || k === '_id' || k === 'text' || k === 'title' || k === 'metadata') continue;
    if (isMetaValue(v) && !(k in metadata)) metadata[k] = v;
  }
  const doc: Doc = { id, text: r.text };
  if (typeof r.title === 'string' && r.title.length > 0) doc.title = r.title;
  if (Object.keys(metadata).length > 0) doc.metadata = metadata;
  return doc;
}

function isMetaValue(v: unknown): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}
