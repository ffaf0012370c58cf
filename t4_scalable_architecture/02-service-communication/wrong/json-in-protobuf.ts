/**
 * Wrong (on purpose): "protobuf" that is JSON inside: one `bytes` field holding the JSON text of the request and
 * of the response. It goes over gRPC and the .proto compiles, but every float is still ~19 decimal characters to
 * print and parse: the framing changed, the numbers did not. The most common first gRPC migration (JSON-in-protobuf).
 *
 * What differs from a right codec (wire-codec.ts, every switch right): `envelope: 'json'` instead of one protobuf field per request field.
 *
 * @rejected-with packed floats need 4
 */
import { grpcRpcClient } from '../../../shared/services/grpc-rpc.ts';
import type { RpcClient } from '../../../shared/services/rpc.ts';
import { SEARCH, type ShardEndpoints } from '../search.ts';
import { RIGHT, wireCodec } from '../wire-codec.ts';

export type { ShardEndpoints, ShardSearchRequest, ShardSearchResponse } from '../search.ts';

export const searchCodec = wireCodec({ ...RIGHT, envelope: 'json' });

export function connect(endpoints: ShardEndpoints, opts: { secret?: string } = {}): RpcClient {
  return grpcRpcClient(endpoints.grpc, { secret: opts.secret, codecs: { [SEARCH]: searchCodec } });
}
