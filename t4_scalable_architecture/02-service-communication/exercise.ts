/**
 * EXERCISE 02-service-communication — decide how the gateway's hot call looks on the wire.
 *
 * `connect` already sends `shard.search` over gRPC (grpc-rpc.ts: one HTTP/2 connection, binary framing). What goes
 * inside each gRPC message is `searchCodec`'s to decide, and as shipped it is JSON text: correct (the checkpoint
 * accepts its answers) but every float of the 100-d query vector and every score is ~19 decimal characters to print
 * and to parse. Write a `searchCodec` that turns a `ShardSearchRequest` and a `ShardSearchResponse` into bytes and
 * back. The shard's gRPC server is started with YOUR codec too, so the two sides always agree.
 *
 * What must hold (checked by `npm run checkpoint -- 02-service-communication`):
 *   - a round trip changes nothing: the same terms, document frequencies and statistics, every float32 component of
 *     the vector bit for bit, every label and every score (a double) bit for bit; through gRPC the shard's answers
 *     equal what the shard computes in-process;
 *   - whatever the vector is: a Float32Array of its own or a view into a bigger buffer (a row of a matrix);
 *   - whatever the bytes are: decoding works on bytes that start at any offset of their ArrayBuffer (Node hands
 *     received bytes as slices of a shared pool);
 *   - size: a request costs at most 4 bytes per vector component plus its terms (each term's UTF-8 and 2 bytes, a
 *     few bytes per document frequency) plus 16 bytes; a response at most 8 bytes per score plus the label's varint,
 *     plus 8 bytes per list. JSON numbers cannot fit; protobuf's packed fields do.
 *
 * The message shapes are in shared/services/proto/shard.proto (you may load it with @grpc/proto-loader, or write the
 * wire format with @bufbuild/protobuf's BinaryWriter/BinaryReader, or design your own). Then measure:
 *   npm run t4 -- --only 02-service-communication --impl exercise --quick
 * Stuck? npm run hint -- 02-service-communication
 */
import { grpcRpcClient, type MethodCodec } from '../../shared/services/grpc-rpc.ts';
import type { RpcClient } from '../../shared/services/rpc.ts';
import { SEARCH, type ShardEndpoints, type ShardSearchRequest, type ShardSearchResponse } from './search.ts';

export type { ShardEndpoints, ShardSearchRequest, ShardSearchResponse } from './search.ts';

const utf8 = new TextDecoder();
const text = (b: Uint8Array): string => utf8.decode(b);

export const searchCodec: MethodCodec<ShardSearchRequest, ShardSearchResponse> = {
  encodeRequest: (r) => Buffer.from(JSON.stringify({ ...r, vector: Array.from(r.vector) })),
  decodeRequest: (bytes) => {
    const m = JSON.parse(text(bytes));
    return { ...m, vector: Float32Array.from(m.vector as number[]) };
  },
  encodeResponse: (r) => Buffer.from(JSON.stringify(r)),
  decodeResponse: (bytes) => JSON.parse(text(bytes)) as ShardSearchResponse,
};

/** The gateway's client for one shard: gRPC to `endpoints.grpc`, `shard.search` carried by `searchCodec`. */
export function connect(endpoints: ShardEndpoints, opts: { secret?: string } = {}): RpcClient {
  return grpcRpcClient(endpoints.grpc, { secret: opts.secret, codecs: { [SEARCH]: searchCodec } });
}
