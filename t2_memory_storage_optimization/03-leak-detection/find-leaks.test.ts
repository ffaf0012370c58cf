/**
 * The leak finder itself (find-leaks.ts: --heapsnapshot-signal, three snapshots, memlab, the server leak filter), run
 * against a stand-in engine so the snapshots are small: on before.ts it must name the three holders that grow per
 * request, with their retainer paths; on after.ts it must find nothing. Runs only in the default mode (plain
 * `npx vitest run`): it tests the tool, not an implementation, and takes tens of seconds.
 */
import { describe, expect, it } from 'vitest';
import { implMode } from '../../shared/lab/checkpoint.ts';
import { findLeaks } from './find-leaks.ts';

const REQUESTS = 300;
const quiet = () => {};

describe.runIf(implMode() === 'default')('find-leaks.ts (heap snapshots + memlab + the server leak filter)', () => {
  it('names the three holders before.ts grows per request, with the path that keeps each', { timeout: 300_000 }, async () => {
    const r = await findLeaks({ impl: 'before', requests: REQUESTS, docs: 'stub', log: quiet });
    expect(r.snapshots).toHaveLength(3);
    const byLastSteps = (needle: RegExp) => r.leaks.find((g) => g.path.slice(-3).some((step) => needle.test(step)));
    const cache = byLastSteps(/--cache \(context\)/);
    const opLog = byLastSteps(/--opLog \(context\)/);
    const listeners = byLastSteps(/--update \(property\)/);
    const summary = r.leaks.map((g) => `${g.holder}: ${g.added} (${g.kinds.join(', ')})\n  ${g.path.slice(-3).join('\n  ')}`).join('\n');
    expect(cache, `no leak held by the cache's Map among:\n${summary}`).toBeDefined();
    expect(opLog, `no leak held by the op log among:\n${summary}`).toBeDefined();
    expect(listeners, `no leak held by the 'update' listener array among:\n${summary}`).toBeDefined();
    expect(r.leaks, summary).toHaveLength(3);
    expect(cache!.added).toBeGreaterThanOrEqual(REQUESTS); // a key and a body per query
    expect(opLog!.added).toBe(REQUESTS);
    expect(listeners!.added).toBe(REQUESTS);
    expect(listeners!.kinds[0]).toMatch(/^closure/);
  });

  it('finds nothing in after.ts', { timeout: 300_000 }, async () => {
    const r = await findLeaks({ impl: 'after', requests: REQUESTS, docs: 'stub', log: quiet });
    expect(r.leaks.map((g) => `${g.holder}: ${g.added}\n  ${g.path.slice(-3).join('\n  ')}`)).toEqual([]);
  });
});
