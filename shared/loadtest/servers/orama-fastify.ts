/**
 * Orama's hybrid search (full-text BM25 + vector, @orama/orama 3) behind the same Fastify shell as our server: the
 * same request schema and compiled response serialization, no results cache. Vectors come from the same SIF embedder.
 *
 * Configured to do what our engine does, so the comparison is of the search, not of the settings: English stop words
 * (the `stopword` package's list, as our analyzer) and stemming (Orama's English Porter stemmer). With Orama's
 * defaults (no stop words) a phrase like "the jury said it did" matches nearly every chunk, and one such query takes
 * seconds at 100k chunks (shared/serve/README.md). The vector side's similarity floor is 0.6 instead of the default 0.8, which SIF cosines rarely
 * reach (0.8 leaves the hybrid with full-text hits only).
 *
 *     npx tsx shared/loadtest/servers/orama-fastify.ts --index .cache/idx-100k --port 8082 [--workers 2]
 */
import Fastify from 'fastify';
import { create, insertMultiple, search, type AnyOrama } from '@orama/orama';
import { eng } from 'stopword';
import { queryBody } from '../../serve/schemas.ts';
import { clustered, indexEmbedder, indexText, peerArgs, readChunks } from './common.ts';

const USAGE = `
Usage: npx tsx shared/loadtest/servers/orama-fastify.ts --index <dir> [--port P] [--workers N]

Orama hybrid search in a Fastify server. POST /v1/query {query, k?}.
`;

const hitSchema = {
  type: 'object',
  properties: {
    hits: {
      type: 'array',
      items: {
        type: 'object',
        properties: { rank: { type: 'integer' }, score: { type: 'number' }, chunkId: { type: 'string' }, docId: { type: 'string' }, title: { type: 'string' }, text: { type: 'string' } },
      },
    },
    answer: { type: 'object', properties: { text: { type: 'string' } } },
  },
} as const;

const args = peerArgs(USAGE);
clustered(args.workers, async () => {
  let db: AnyOrama | undefined;
  const embedder = await indexEmbedder(args.index);
  const app = Fastify({ bodyLimit: 1024 * 1024, ajv: { customOptions: { allowUnionTypes: true } } });
  app.get('/readyz', async (_req, reply) => reply.code(db ? 200 : 503).send({ status: db ? 'ready' : 'loading' }));
  app.post('/v1/query', { schema: { body: queryBody, response: { 200: hitSchema } } }, async (req, reply) => {
    if (!db) return (reply as unknown as { code(n: number): { send(b: unknown): unknown } }).code(503).send({ error: 'loading' });
    const { query, k = 10 } = req.body as { query: string; k?: number };
    const vector = Array.from(embedder.embedSync([query])[0]);
    const res = await search(db, {
      mode: 'hybrid',
      term: query,
      properties: ['text'],
      vector: { value: vector, property: 'embedding' },
      similarity: 0.6,
      limit: k,
      includeVectors: false,
    });
    const hits = res.hits.map((h, i) => {
      const d = h.document as unknown as { chunkId: string; docId: string; title: string; text: string };
      return { rank: i + 1, score: h.score, chunkId: d.chunkId, docId: d.docId, title: d.title, text: d.text };
    });
    return { hits, answer: { text: hits[0]?.text.slice(0, 300) ?? '' } };
  });
  await app.listen({ port: args.port, host: '127.0.0.1' });

  const t0 = Date.now();
  const chunks = await readChunks(args.index);
  const orama = create({
    components: { tokenizer: { stemming: true, stopWords: eng } },
    schema: { chunkId: 'string', docId: 'string', title: 'string', text: 'string', embedding: 'vector[100]' } as const,
  });
  const BATCH = 5000;
  for (let i = 0; i < chunks.length; i += BATCH) {
    const part = chunks.slice(i, i + BATCH);
    const vectors = embedder.embedSync(part.map(indexText));
    await insertMultiple(
      orama,
      part.map((c, j) => ({ chunkId: c.id, docId: c.docId, title: c.title ?? '', text: indexText(c), embedding: Array.from(vectors[j]) })),
      1000,
    );
  }
  db = orama;
  process.stderr.write(`orama: ${chunks.length} chunks indexed in ${((Date.now() - t0) / 1000).toFixed(0)} s, listening on ${args.port}\n`);
});
