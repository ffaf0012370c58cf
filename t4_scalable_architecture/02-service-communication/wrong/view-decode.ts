/**
 * Wrong (on purpose): the vector decoded as a Float32Array *view* of the received bytes, to skip a copy. A
 * Float32Array must start at a multiple of 4 bytes into its ArrayBuffer; where the packed floats start inside a
 * message depends on the fields before them, and Node hands received bytes in slices of a shared pool at any
 * offset: the view throws a RangeError (or, on a lucky offset, works until a query with one more term).
 *
 * What differs from a right codec (wire-codec.ts, every switch right): `floats: 'view'` instead of copying the bytes into a new, aligned Float32Array.
 *
 * @rejected-with at byte offset
 */
import { grpcRpcClient } from '../../../shared/services/grpc-rpc.ts';
import type { RpcClient } from '../../../shared/services/rpc.ts';
import { SEARCH, type ShardEndpoints } from '../search.ts';
import { RIGHT, wireCodec } from '../wire-codec.ts';

export type { ShardEndpoints, ShardSearchRequest, ShardSearchResponse } from '../search.ts';

export const searchCodec = wireCodec({ ...RIGHT, floats: 'view' });

export function connect(endpoints: ShardEndpoints, opts: { secret?: string } = {}): RpcClient {
  return grpcRpcClient(endpoints.grpc, { secret: opts.secret, codecs: { [SEARCH]: searchCodec } });
}
