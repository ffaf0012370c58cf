/**
 * What the service's document history (store/history.ts) costs on disk, on a real sequence of writes: version 1
 * ingests --docs Brown documents, then each of --writes writes edits one document with lesson 06's seeded edit model
 * (shared/versions/edits.ts: word, sentence and paragraph edits; the document re-sent whole, as a client sends it),
 * deletes one (4%) or re-ingests a deleted one (4%). The history is the one the server runs (the same class, file and
 * frames), written into a temporary data directory, then reopened from disk and every version read back and checked.
 *
 *     npx tsx shared/serve/bench-history.ts [--docs 60] [--writes 600] [--seed 7]
 *
 * Prints a Markdown table: bytes of the history file per document version vs the bytes of the text sent (what a full
 * copy per version would keep), and the time to read a version back (reopened from disk, cold process cache).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBrown } from '../corpus/brown.ts';
import type { Doc } from '../types.ts';
import { numberFlag, parseCli, runMain } from '../util/cli.ts';
import { mulberry32 } from '../util/random.ts';
import { createEditModel } from '../versions/edits.ts';
import { CHECKPOINT_EVERY, DocumentHistory } from './store/history.ts';
import type { LogOp } from './writes.ts';

const USAGE = `
Usage: npx tsx shared/serve/bench-history.ts [--docs N] [--writes W] [--seed S]

Writes a history of N Brown documents (default 60) and W edits, deletes and re-ingests (default 600) with the
service's document history into a temporary directory, reopens it, reads every version back and prints its bytes per
version and read time. Progress on stderr.
`;

const quiet = { warn: () => {}, error: () => {} };

async function main(): Promise<void> {
  const { values } = parseCli(USAGE, { docs: { type: 'string' }, writes: { type: 'string' }, seed: { type: 'string' } });
  const n = numberFlag('docs', values.docs, 60, (x) => Number.isInteger(x) && x >= 2 && x <= 500);
  const writes = numberFlag('writes', values.writes, 600, (x) => Number.isInteger(x) && x >= 1);
  const seed = numberFlag('seed', values.seed, 7, Number.isInteger);
  const docs = await loadBrown({ limit: n });
  const model = createEditModel(docs, seed);
  const rand = mulberry32(seed + 1);
  const dir = await mkdtemp(join(tmpdir(), 'rag-bench-history-'));
  try {
    const h = DocumentHistory.open(dir, quiet);
    const current = new Map<string, Doc | undefined>(docs.map((d) => [d.id, d]));
    /** Every version written, to check the read-back: [id, version, text or undefined (deleted)]. */
    const written: Array<[string, number, string | undefined]> = [];
    let textBytes = 0;
    let docVersions = 0;
    const apply = (v: number, op: LogOp) => {
      h.record(v, op, { ok: true, result: {} });
      if (op.kind === 'ingest') for (const d of op.docs) (written.push([d.id, v, d.text]), (textBytes += Buffer.byteLength(d.text)), docVersions++);
      if (op.kind === 'delete') for (const id of op.ids) (written.push([id, v, undefined]), docVersions++);
    };
    apply(1, { kind: 'ingest', docs });
    const t0 = performance.now();
    for (let v = 2; v <= writes + 1; v++) {
      const id = docs[Math.floor(rand() * docs.length)].id;
      const doc = current.get(id);
      const r = rand();
      if (doc && r < 0.04) {
        current.set(id, undefined);
        apply(v, { kind: 'delete', ids: [id] });
      } else if (!doc) {
        const again = { ...docs.find((d) => d.id === id)! };
        current.set(id, again);
        apply(v, { kind: 'ingest', docs: [again] });
      } else {
        const next = { ...doc, text: model.edit(doc.text) };
        current.set(id, next);
        apply(v, { kind: 'ingest', docs: [next] });
      }
    }
    const writeMs = performance.now() - t0;
    h.close();
    process.stderr.write(`wrote ${writes + 1} writes (${docVersions} document versions) in ${writeMs.toFixed(0)} ms; reading back\n`);

    const back = DocumentHistory.open(dir, quiet);
    const stats = back.stats;
    const t1 = performance.now();
    for (const [id, v, text] of written) {
      const s = back.stateAt(id, v);
      const got = s.kind === 'ingest' ? s.doc.text : undefined;
      if (got !== text) throw new Error(`version ${v} of ${id} did not read back as written`);
    }
    const readMs = performance.now() - t1;
    back.close();
    const base = docs.reduce((s, d) => s + Buffer.byteLength(d.text), 0);
    const edits = docVersions - docs.length;
    console.log(`| documents | writes | document versions | checkpoint every | history file | full copies (text sent) | bytes / version after v1 (history) | bytes / version (full copy) | read a version (mean) |`);
    console.log(`| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`);
    console.log(
      `| ${n} | ${writes + 1} | ${stats.versions} | ${CHECKPOINT_EVERY} | ${(stats.bytes / 1024).toFixed(0)} KiB | ${(textBytes / 1024).toFixed(0)} KiB | ` +
        `${Math.round((stats.bytes - base) / edits)} | ${Math.round((textBytes - base) / edits)} | ${((readMs / written.length) * 1000).toFixed(0)} µs |`,
    );
    process.stderr.write(`every one of the ${written.length} versions read back exactly (from the reopened file)\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

runMain(main);
