/**
 * Wrong (on purpose): the result lists as `repeated Hit { uint32 label = 1; double score = 2; }`, the schema most
 * people write first. It is correct, and each hit pays a tag and a length for its message and a tag per field: about
 * 4 bytes more per hit than two packed columns (labels, scores), a third more for k = 10.
 *
 * What differs from a right codec (wire-codec.ts, every switch right): `hits: 'messages'` instead of two packed columns per list.
 *
 * @rejected-with bytes per hit
 */
import { grpcRpcClient } from '../../../shared/services/grpc-rpc.ts';
import type { RpcClient } from '../../../shared/services/rpc.ts';
import { SEARCH, type ShardEndpoints } from '../search.ts';
import { RIGHT, wireCodec } from '../wire-codec.ts';

export type { ShardEndpoints, ShardSearchRequest, ShardSearchResponse } from '../search.ts';

export const searchCodec = wireCodec({ ...RIGHT, hits: 'messages' });

export function connect(endpoints: ShardEndpoints, opts: { secret?: string } = {}): RpcClient {
  return grpcRpcClient(endpoints.grpc, { secret: opts.secret, codecs: { [SEARCH]: searchCodec } });
}
