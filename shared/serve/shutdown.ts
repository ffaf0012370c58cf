/**
 * A signal handler that runs a graceful shutdown once (a second SIGINT while it runs is ignored), then exits 0, or
 * 1 with the error on stderr.
 *
 *     const shutdown = onceSignal(async () => { await server.close(); });
 *     process.once('SIGTERM', shutdown);
 */
export function onceSignal(fn: () => Promise<void>): () => void {
  let started = false;
  return () => {
    if (started) return;
    started = true;
    fn().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`error during shutdown: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
}
