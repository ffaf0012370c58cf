/**
 * The naive baseline, written the way RAG tutorials do it: Express, LangChain.js's MemoryVectorStore (brute-force
 * cosine over every vector, number[][]), no cache, one process. The embeddings come from the same SIF embedder as our
 * engine, through a LangChain `Embeddings` subclass, so only the serving and the search differ. The "answer" is the
 * opening of the top hit, as a tutorial's stuff-the-context step would produce without an LLM.
 *
 *     npx tsx shared/loadtest/servers/naive-express.ts --index .cache/idx-100k --port 8081
 */
import express from 'express';
import { Embeddings } from '@langchain/core/embeddings';
import { Document } from '@langchain/core/documents';
import { MemoryVectorStore } from '@langchain/classic/vectorstores/memory';
import type { SifEmbedder } from '../../embed/sif.ts';
import { clustered, indexEmbedder, indexText, peerArgs, readChunks } from './common.ts';

const USAGE = `
Usage: npx tsx shared/loadtest/servers/naive-express.ts --index <dir> [--port P]

Naive baseline server: Express + LangChain MemoryVectorStore (brute force), no cache. POST /v1/query {query, k?}.
`;

class SifEmbeddings extends Embeddings {
  constructor(private readonly sif: SifEmbedder) {
    super({});
  }
  async embedDocuments(texts: string[]): Promise<number[][]> {
    return this.sif.embedSync(texts).map((v) => Array.from(v));
  }
  async embedQuery(text: string): Promise<number[]> {
    return Array.from(this.sif.embedSync([text])[0]);
  }
}

const args = peerArgs(USAGE);
clustered(args.workers, async () => {
  let store: MemoryVectorStore | undefined;
  const app = express();
  app.use(express.json({ limit: '1mb' }));
  app.get('/readyz', (_req, res) => {
    res.status(store ? 200 : 503).json({ status: store ? 'ready' : 'loading' });
  });
  app.post('/v1/query', async (req, res) => {
    const { query, k = 10 } = req.body ?? {};
    if (typeof query !== 'string' || query.length === 0) return res.status(400).json({ error: 'query is required' });
    if (!store) return res.status(503).json({ error: 'loading' });
    const results = await store.similaritySearchWithScore(query, k);
    const hits = results.map(([doc, score], i) => ({ rank: i + 1, score, ...doc.metadata, text: doc.pageContent }));
    res.json({ hits, answer: { text: results[0]?.[0].pageContent.slice(0, 300) ?? '' } });
  });
  app.listen(args.port, '127.0.0.1');

  const chunks = await readChunks(args.index);
  const embeddings = new SifEmbeddings(await indexEmbedder(args.index));
  const docs = chunks.map(
    (c) => new Document({ pageContent: c.text, metadata: { chunkId: c.id, docId: c.docId, title: c.title, position: c.position } }),
  );
  // what tutorials do: MemoryVectorStore.fromDocuments(docs, embeddings); embed the index text (title + text) like ours
  const vectors = await embeddings.embedDocuments(chunks.map(indexText));
  const s = new MemoryVectorStore(embeddings);
  await s.addVectors(vectors, docs);
  store = s;
  process.stderr.write(`naive: ${docs.length} chunks in MemoryVectorStore, listening on ${args.port}\n`);
});
