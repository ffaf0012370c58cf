/**
 * The embedder as a service: the engine's default embedder (SIF over GloVe, shared/embed/sif.ts) with the state a
 * saved index was built with (its fitted word weights and common component, from the index's manifest), behind an
 * HTTP RPC server in its own process. The gateway embeds every query here before fanning out to the shards, so a
 * query vector equals the one the monolith computes for the same text.
 *
 *     embed {texts: string[]} → {vectors: number[][], dim}
 *
 * Why a service of its own: the embedder is the stage that scales differently (with an ONNX model it is the CPU-
 * or GPU-heavy one; t3), and a process of its own can be given more instances than the shards without copying the
 * index. Run as a process: `node --import tsx shared/services/embedder-service.ts --index <dir> [--port P]`, the secret
 * in env RAG_INTERNAL_TOKEN.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDefaultEmbedder } from '../embed/sif.ts';
import { RagError } from '../errors.ts';
import type { Embedder } from '../types.ts';
import { createServiceMetrics } from '../observe/service-metrics.ts';
import { serveHttpRpc, type HttpRpcServer } from './http-rpc.ts';
import { RpcError, type RpcHandler } from './rpc.ts';
import { flag, serviceMain } from './shard-service.ts';

export interface EmbedRequest {
  texts: string[];
}

export interface EmbedReply {
  vectors: number[][];
  dim: number;
}

/** Most texts per call (a query is one). */
export const MAX_EMBED_TEXTS = 256;

/** The default embedder in the state the saved index `dir` was built with. */
export async function embedderOfIndex(dir: string): Promise<Embedder> {
  let manifest: { embedder?: { name: string; dim: number; state?: unknown } };
  try {
    manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
  } catch {
    throw new RagError('NOT_FOUND', `no saved engine in ${dir} (manifest.json missing or unreadable); build one with npm run index`);
  }
  const embedder = await createDefaultEmbedder();
  const want = manifest.embedder;
  if (!want || want.name !== embedder.name || want.dim !== embedder.dim) {
    throw new RagError('INVALID_INPUT', `index ${dir} was built with embedder ${want?.name} (${want?.dim}-d), the embedder service runs ${embedder.name} (${embedder.dim}-d)`);
  }
  if (want.state !== undefined) embedder.restore?.(want.state);
  return embedder;
}

export function embedderHandler(embedder: Embedder): RpcHandler {
  return async (method, body, ctx) => {
    if (method !== 'embed') throw new RpcError('NOT_FOUND', `embedder service has no method "${method}" (embed)`);
    const texts = (body as EmbedRequest | null)?.texts;
    if (!Array.isArray(texts) || texts.length === 0 || texts.length > MAX_EMBED_TEXTS || !texts.every((t) => typeof t === 'string')) {
      throw new RpcError('INVALID_ARGUMENT', `embed needs {texts: 1 to ${MAX_EMBED_TEXTS} strings}`);
    }
    const rows = await embedder.embed(texts, { signal: ctx.signal, priority: 'interactive' });
    const reply: EmbedReply = { vectors: rows.map((r) => Array.from(r)), dim: embedder.dim };
    return reply;
  };
}

export async function startEmbedderService(opts: { index: string; secret?: string; port?: number }): Promise<HttpRpcServer> {
  const embedder = await embedderOfIndex(opts.index);
  return serveHttpRpc(embedderHandler(embedder), { secret: opts.secret ?? process.env.RAG_INTERNAL_TOKEN, port: opts.port ?? 0, service: 'embedder', metrics: createServiceMetrics('embedder').http });
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  serviceMain('embedder', () => startEmbedderService({ index: flag('index'), port: Number(flag('port', '0')) }));
}
