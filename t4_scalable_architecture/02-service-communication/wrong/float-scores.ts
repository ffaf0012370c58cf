/**
 * Wrong (on purpose): scores as `float` (packed float32, 4 bytes) to halve the response. But the engine's scores are
 * doubles (FlatIndex sums float32 products in a double): rounded to float32 they change, two hits whose scores
 * differ in the 9th digit can tie or swap, and the gateway's merge of several shards' lists (by score) no longer
 * gives what one index gives.
 *
 * What differs from a right codec (wire-codec.ts, every switch right): `scores: 'float'` instead of `double`.
 *
 * @rejected-with changed on the wire
 */
import { grpcRpcClient } from '../../../shared/services/grpc-rpc.ts';
import type { RpcClient } from '../../../shared/services/rpc.ts';
import { SEARCH, type ShardEndpoints } from '../search.ts';
import { RIGHT, wireCodec } from '../wire-codec.ts';

export type { ShardEndpoints, ShardSearchRequest, ShardSearchResponse } from '../search.ts';

export const searchCodec = wireCodec({ ...RIGHT, scores: 'float' });

export function connect(endpoints: ShardEndpoints, opts: { secret?: string } = {}): RpcClient {
  return grpcRpcClient(endpoints.grpc, { secret: opts.secret, codecs: { [SEARCH]: searchCodec } });
}
