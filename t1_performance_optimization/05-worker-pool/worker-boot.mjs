// Entry file of the piscina pool (plain JS, so any Node can load it): registers tsx's loader in this worker thread,
// then loads the TypeScript worker. Worker threads do not inherit the main thread's `--import tsx`, and vitest's
// transform does not reach them either; this makes the same pool work under `npx tsx`, `node --import tsx` and vitest.
import { register } from 'tsx/esm/api';

register();
const mod = await import(new URL('./embed-worker.ts', import.meta.url).href);

export default mod.default;
export const rows = mod.rows;
