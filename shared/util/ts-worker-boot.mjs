// Entry file of every TypeScript worker thread started with `startTsWorker` (shared/util/ts-worker.ts). Plain JS, so
// any Node can load it: registers tsx's loader in this worker thread, then imports the TypeScript module whose URL
// is the last element of process.argv (startTsWorker appends it). Worker threads do not inherit the main thread's
// `--import tsx`, and vitest's transform does not reach them either; this makes the same worker start under
// `npx tsx`, `node --import tsx` and vitest. The same approach as t1_performance_optimization/05-worker-pool/ and
// t3_model_inference_optimization/07-model-parallelism/worker-boot.mjs, with the entry as a parameter.
import { register } from 'tsx/esm/api';

register();
await import(process.argv[process.argv.length - 1]);
