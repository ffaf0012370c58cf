/**
 * Ingestion inside the request, the way it is usually written first: `POST /documents` chunks the document, embeds
 * the chunks, indexes them, and only then answers 201. Simple and consistent (when the client hears back, the
 * document is searchable), but the request holds the caller for the whole chunk → embed → index, and every other
 * request arriving meanwhile waits behind it on the same event loop: under concurrent uploads, API latency grows
 * with the queue of work in front of it.
 *
 * Failures surface to the client: a transient failure answers 503 and the client must retry; a crash after the
 * write drops the connection, the client retries, and the upsert by document id makes the second write harmless.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeServer, readDoc, sendError, sendJson, TransientError, type IngestService, type ServiceOptions } from './service.ts';

export async function startIngestService(opts: ServiceOptions): Promise<IngestService> {
  const { engine } = opts;
  const hooks = opts.hooks ?? {};
  const writes = new Map<string, number>();
  const seen = new Map<string, number>();

  const server = http.createServer(async (req, res) => {
    try {
      if (req.method !== 'POST' || req.url !== '/documents') {
        sendJson(res, 404, { error: `no route ${req.method} ${req.url}` });
        return;
      }
      const doc = await readDoc(req);
      await hooks.hold?.(doc.id);
      const attempt = (seen.get(doc.id) ?? 0) + 1;
      seen.set(doc.id, attempt);
      if (hooks.failAttempt?.(doc.id, attempt)) throw new TransientError(doc.id, attempt);
      // chunk → embed → index, all while the client (and everyone queued behind it) waits
      const result = await engine.ingest([doc]);
      writes.set(doc.id, (writes.get(doc.id) ?? 0) + 1);
      if (hooks.crashAfterIndex?.(doc.id)) {
        req.socket.destroy(); // the process "died" after the write, before the answer
        return;
      }
      sendJson(res, 201, { id: doc.id, chunks: result.chunks });
    } catch (err) {
      sendError(res, err);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    queued: false,
    writes,
    // Nothing is pending once every request has been answered: the work happened inside the requests.
    drain: async () => {},
    close: () => closeServer(server),
  };
}
