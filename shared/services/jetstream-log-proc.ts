/**
 * A writer or a replica of jetstream-log.ts as its own process, for the kill -9 checks (jetstream-log.test.ts and
 * the 04-replicated-writes bench). Not a service: a test harness with a ledger for an engine.
 *
 *   tsx jetstream-log-proc.ts replica <servers> <index> <id> <stateFile> <snapshotEvery>
 *       Starts from the snapshot in <stateFile> (JSON {version, docs, applied}; none: version 0), applies every later
 *       write to a ledger (documents by id + the versions applied, in order), writes a snapshot every <snapshotEvery>
 *       versions (temp file + rename) and a last one on SIGTERM, then exits 0. Prints "READY <version>" once reading.
 *   tsx jetstream-log-proc.ts writer <servers> <index> <count> <prefix> <replicas>
 *       Submits <count> ingests of "<prefix><i>", one after another, each acknowledged with <replicas> (a number or
 *       'all'); prints "ACK <docId> <version>" after each acknowledgement. Exits 0 when done.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ApplyOutcome, LogOp } from '../serve/writes.ts';
import { connectNats, JetStreamReplica, JetStreamWritePath, type ReplicaCount } from './jetstream-log.ts';

export interface LedgerState {
  version: number;
  docs: Array<[string, string]>;
  applied: number[];
}

export function readLedger(file: string): LedgerState {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LedgerState;
  } catch {
    return { version: 0, docs: [], applied: [] };
  }
}

async function replica(servers: string, index: string, id: string, file: string, every: number): Promise<void> {
  const state = readLedger(file);
  const docs = new Map(state.docs);
  const applied = [...state.applied];
  let version = state.version;
  const save = () => {
    const s: LedgerState = { version, docs: [...docs], applied };
    writeFileSync(`${file}.tmp`, JSON.stringify(s));
    renameSync(`${file}.tmp`, file);
  };
  const nc = await connectNats(servers);
  const r = await JetStreamReplica.start({
    nc,
    index,
    id,
    fromVersion: version,
    apply: async (v: number, op: LogOp): Promise<ApplyOutcome> => {
      if (op.kind === 'ingest') for (const d of op.docs) docs.set(d.id, d.text);
      else if (op.kind === 'delete') for (const x of op.ids) docs.delete(x);
      applied.push(v);
      version = v;
      if (v % every === 0) save();
      return { ok: true, result: {} };
    },
    onError: (err) => {
      console.error(err.message);
      process.exit(2);
    },
  });
  process.stdout.write(`READY ${version}\n`);
  process.once('SIGTERM', () => {
    void r.halt().then(() => {
      save();
      process.exit(0);
    });
  });
}

async function writer(servers: string, index: string, count: number, prefix: string, replicas: ReplicaCount): Promise<void> {
  const nc = await connectNats(servers);
  const w = await JetStreamWritePath.open({ nc, index, replicas });
  for (let i = 0; i < count; i++) {
    const id = `${prefix}${i}`;
    const ack = await w.submit({ kind: 'ingest', docs: [{ id, text: `text of ${id}` }] });
    process.stdout.write(`ACK ${id} ${ack.version}\n`);
  }
  await w.close();
  await nc.drain();
}

const [mode, ...args] = process.argv.slice(2);
const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (!isMain) {
  // imported (the test reads ledgers with readLedger)
} else if (mode === 'replica') await replica(args[0], args[1], args[2], args[3], Number(args[4]));
else if (mode === 'writer') await writer(args[0], args[1], Number(args[2]), args[3], args[4] === 'all' ? 'all' : Number(args[4]));
else {
  console.error('usage: jetstream-log-proc.ts replica|writer …');
  process.exit(1);
}
