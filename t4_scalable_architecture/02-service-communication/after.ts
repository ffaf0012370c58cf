/**
 * After: the gateway calls the shard over gRPC (grpc-rpc.ts: one HTTP/2 connection per shard, every call a stream on
 * it), and the hot method's messages are protobuf (shared/services/proto/shard.proto, loaded at run time with
 * @grpc/proto-loader): the 100 float32 components of the query vector packed, 4 bytes each, bit for bit; the
 * response as two packed columns, labels (varints) and scores (doubles, 8 bytes each, bit for bit). No JSON text is
 * built or parsed on the hot path. Other methods still go as JSON bytes (grpc-rpc.ts's generic path).
 */
import { fileURLToPath } from 'node:url';
import { loadSync } from '@grpc/proto-loader';
import { grpcRpcClient, type MethodCodec } from '../../shared/services/grpc-rpc.ts';
import type { RpcClient } from '../../shared/services/rpc.ts';
import type { ScoredLabel } from '../../shared/types.ts';
import { SEARCH, type ShardEndpoints, type ShardSearchRequest, type ShardSearchResponse } from './search.ts';

export type { ShardEndpoints, ShardSearchRequest, ShardSearchResponse } from './search.ts';

const PROTO = fileURLToPath(new URL('../../shared/services/proto/shard.proto', import.meta.url));
// longs as JS numbers, empty lists and zeros present (proto3 leaves them off the wire)
const pkg = loadSync(PROTO, { longs: Number, defaults: true, arrays: true });
const search = (pkg['rag.shard.Shard'] as Record<string, { requestSerialize(v: object): Buffer; requestDeserialize(b: Buffer): any; responseSerialize(v: object): Buffer; responseDeserialize(b: Buffer): any }>).Search;

interface Hits {
  labels: number[];
  scores: number[];
}

const columns = (hits: readonly ScoredLabel[]): Hits => ({ labels: hits.map((h) => h.label), scores: hits.map((h) => h.score) });
const rows = (h: Hits | null | undefined): ScoredLabel[] => (h ? h.labels.map((label, i) => ({ label, score: h.scores[i] })) : []);
const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** `shard.search` as protobuf: the messages of shard.proto. */
export const searchCodec: MethodCodec<ShardSearchRequest, ShardSearchResponse> = {
  // protobufjs wants a plain array for a repeated field: 100 numbers, copied once
  encodeRequest: (r) => search.requestSerialize({ ...r, vector: Array.from(r.vector) }),
  decodeRequest: (bytes) => {
    const m = search.requestDeserialize(asBuffer(bytes));
    return { k: m.k, terms: m.terms, df: m.df, docs: m.docs, totalLength: m.totalLength, vector: Float32Array.from(m.vector as number[]) };
  },
  encodeResponse: (r) => search.responseSerialize({ text: columns(r.text), dense: columns(r.dense) }),
  decodeResponse: (bytes) => {
    const m = search.responseDeserialize(asBuffer(bytes));
    return { text: rows(m.text), dense: rows(m.dense) };
  },
};

/** The gateway's client for one shard: gRPC to `endpoints.grpc`, `shard.search` carried by `searchCodec`. */
export function connect(endpoints: ShardEndpoints, opts: { secret?: string } = {}): RpcClient {
  return grpcRpcClient(endpoints.grpc, { secret: opts.secret, codecs: { [SEARCH]: searchCodec } });
}
