import type { Metrics } from '../../observe/metrics.ts';
import type { ResultsCache } from '../cache.ts';
import type { LoadShedder } from '../load-shedding.ts';
import type { ReloadResult } from '../reload.ts';
import type { Replica } from '../replica.ts';
import type { HistoryReader } from '../store/history.ts';
import type { WritePath } from '../writes.ts';

/** What POST /v1/admin/model answers. */
export interface ModelSwapResult {
  model: string;
  from: string;
  to: string;
  loadMs: number;
  warmMs: number;
}

/** What the routes share, built once by createServer (app.ts). */
export interface RouteContext {
  replica: Replica;
  /** True once close() began: queries and writes are refused, /readyz answers 503. */
  readonly closing: boolean;
  cache: ResultsCache | undefined;
  metrics: Metrics;
  shedding: LoadShedder;
  writes: WritePath;
  /** Per-query deadline in ms (504 beyond). */
  deadlineMs: number;
  /** Deadline for writes in ms (504 beyond: outcome unknown). */
  writeDeadlineMs: number;
  /** Produces the /metrics text; default this process's registry. */
  metricsText?: () => Promise<string>;
  /** Runs a hot update (reload.ts); undefined: POST /v1/admin/reload answers 501. */
  reload?: (index: string | undefined) => Promise<ReloadResult>;
  /** Swaps the served ONNX model (POST /v1/admin/model); undefined: the route answers 501 with the reason. */
  swapModel?: (model: string | undefined) => Promise<ModelSwapResult>;
  /** Every document's versions (store/history.ts); undefined: the version routes answer 501. */
  history?: HistoryReader & { failed?: string };
}
