/**
 * A tiny service for probe-driver.test.ts: http-rpc.ts's server under shard-service.ts's `serviceMain` (so SIGTERM
 * runs the engine's graceful shutdown: readiness off, RAG_PRESTOP_MS, drain), with one method, `hold {ms}`, that
 * answers after `ms`. Flags: `--start-delay-ms` (before it listens), `--unlive-after-ms` (then /healthz answers 503).
 */
import { serveHttpRpc } from './http-rpc.ts';
import { flag, serviceMain } from './shard-service.ts';

const started = performance.now();
const unliveAfter = Number(flag('unlive-after-ms', '0'));
serviceMain('probe-fixture', async () => {
  await new Promise((r) => setTimeout(r, Number(flag('start-delay-ms', '0'))));
  return serveHttpRpc(
    async (_method, body) => {
      await new Promise((r) => setTimeout(r, (body as { ms?: number })?.ms ?? 0));
      return { ok: true };
    },
    { port: Number(flag('port', '0')), live: () => !unliveAfter || performance.now() - started < unliveAfter },
  );
});
