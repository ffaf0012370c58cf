/**
 * Wrong (on purpose): the vector's bytes taken as `new Uint8Array(vector.buffer)`: right when the Float32Array owns
 * its buffer, wrong when it is a view into a bigger one (a row of the embedder's output matrix, a subarray): the
 * whole matrix goes on the wire and the shard reads another query's floats (or refuses a vector of the wrong length).
 *
 * What differs from a right codec (wire-codec.ts, every switch right): `vector: 'whole-buffer'` instead of the vector's own byteOffset and byteLength.
 *
 * @rejected-with not the one sent
 */
import { grpcRpcClient } from '../../../shared/services/grpc-rpc.ts';
import type { RpcClient } from '../../../shared/services/rpc.ts';
import { SEARCH, type ShardEndpoints } from '../search.ts';
import { RIGHT, wireCodec } from '../wire-codec.ts';

export type { ShardEndpoints, ShardSearchRequest, ShardSearchResponse } from '../search.ts';

export const searchCodec = wireCodec({ ...RIGHT, vector: 'whole-buffer' });

export function connect(endpoints: ShardEndpoints, opts: { secret?: string } = {}): RpcClient {
  return grpcRpcClient(endpoints.grpc, { secret: opts.secret, codecs: { [SEARCH]: searchCodec } });
}
