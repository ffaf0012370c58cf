/**
 * Gauges about the durable store, for the registry of whichever process owns it (the single server, or the cluster
 * primary, whose figures are added to the workers' on GET /metrics):
 *
 *     rag_wal_records_total          records appended to the write-ahead log since start
 *     rag_wal_fsyncs_total           fdatasync calls (group commit: fewer than records under concurrent writes)
 *     rag_wal_tail_records           log records held in memory (after the newest snapshot): bounded by the snapshot policy
 *     rag_wal_tail_bytes             their bytes on disk
 *     rag_snapshot_version           the index version of the newest snapshot (0: none yet, the saved index is the base)
 */
import { Gauge, type Registry } from 'prom-client';
import type { DurableStore } from './store.ts';

export function registerStoreMetrics(registry: Registry, store: DurableStore): void {
  const gauge = (name: string, help: string, value: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(value());
      },
    });
  gauge('rag_wal_records_total', 'Records appended to the write-ahead log since start', () => store.walStats.records);
  gauge('rag_wal_fsyncs_total', 'fdatasync calls on the write-ahead log since start', () => store.walStats.fsyncs);
  gauge('rag_wal_tail_records', 'Write-ahead log records after the newest snapshot (held in memory)', () => store.tailStats.records);
  gauge('rag_wal_tail_bytes', 'Bytes of the write-ahead log records after the newest snapshot', () => store.tailStats.bytes);
  gauge('rag_snapshot_version', 'Index version of the newest snapshot', () => store.base.version);
}
