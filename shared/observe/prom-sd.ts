/**
 * Prometheus file-based service discovery for `npm run t4:up -- --prometheus-sd <dir>` (deploy/prometheus/prometheus.yml):
 * one `<job>.json` per job (gateway, shard, embedder, ingest) listing `host:port` targets with their labels, and
 * `token`, the per-run service credential Prometheus sends as `Authorization: Bearer` (mode 0600). Written atomically
 * (a temporary file renamed into place) so Prometheus never reads half a file.
 */
import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface SdTarget {
  job: 'gateway' | 'shard' | 'embedder' | 'ingest';
  url: string;
  labels?: Record<string, string>;
}

/** The file_sd documents by job: `{ gateway: [{ targets: ['127.0.0.1:8080'], labels: {...} }], ... }`. */
export function fileSdGroups(targets: readonly SdTarget[]): Record<string, Array<{ targets: string[]; labels: Record<string, string> }>> {
  const out: Record<string, Array<{ targets: string[]; labels: Record<string, string> }>> = { gateway: [], shard: [], embedder: [], ingest: [] };
  for (const t of targets) {
    const u = new URL(t.url);
    out[t.job].push({ targets: [`${u.hostname}:${u.port}`], labels: { ...t.labels } });
  }
  return out;
}

function writeAtomic(file: string, text: string, mode = 0o644): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

/** Writes `<dir>/<job>.json` for every job and `<dir>/token`. Returns the files written. */
export function writePrometheusSd(dir: string, targets: readonly SdTarget[], secret: string): string[] {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const [job, groups] of Object.entries(fileSdGroups(targets))) {
    const f = path.join(dir, `${job}.json`);
    writeAtomic(f, `${JSON.stringify(groups, null, 2)}\n`);
    files.push(f);
  }
  const tok = path.join(dir, 'token');
  writeAtomic(tok, secret, 0o600);
  files.push(tok);
  return files;
}
