/**
 * `shard.search` in protobuf written by hand (`@bufbuild/protobuf/wire`'s BinaryWriter / BinaryReader), with one
 * switch per decision the lesson is about. With every switch right (`RIGHT`) the bytes are shard.proto's messages,
 * what after.ts's codec (proto-loader) writes; each wrong solution in wrong/ turns one switch:
 *
 *   envelope  'fields'  each field its own protobuf field              'json'     one `bytes` field holding JSON
 *   scores    'double'  8 bytes, the engine's double bit for bit       'float'    4 bytes, rounded to float32
 *   hits      'columns' two packed columns per list (labels, scores)   'messages' repeated Hit { label, score }
 *   vector    'copy'    the vector's own 400 bytes                     'whole-buffer'  its whole backing ArrayBuffer
 *   floats    'copy'    read into a new (aligned) Float32Array         'view'     a Float32Array view of the message
 */
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { MethodCodec } from '../../shared/services/grpc-rpc.ts';
import type { ScoredLabel } from '../../shared/types.ts';
import type { ShardSearchRequest, ShardSearchResponse } from './search.ts';

export interface WireChoices {
  envelope: 'fields' | 'json';
  scores: 'double' | 'float';
  hits: 'columns' | 'messages';
  vector: 'copy' | 'whole-buffer';
  floats: 'copy' | 'view';
}

export const RIGHT: WireChoices = { envelope: 'fields', scores: 'double', hits: 'columns', vector: 'copy', floats: 'copy' };

const LEN = WireType.LengthDelimited;

export function wireCodec(c: WireChoices): MethodCodec<ShardSearchRequest, ShardSearchResponse> {
  const writeHits = (w: BinaryWriter, field: number, hits: readonly ScoredLabel[]) => {
    w.tag(field, LEN).fork();
    if (c.hits === 'messages') {
      for (const h of hits) {
        w.tag(1, LEN).fork();
        if (h.label !== 0) w.tag(1, WireType.Varint).uint32(h.label);
        if (c.scores === 'double') w.tag(2, WireType.Bit64).double(h.score);
        else w.tag(2, WireType.Bit32).float(h.score);
        w.join();
      }
    } else if (hits.length > 0) {
      w.tag(1, LEN).fork();
      for (const h of hits) w.uint32(h.label);
      w.join();
      w.tag(2, LEN).fork();
      for (const h of hits) if (c.scores === 'double') w.double(h.score);
      else w.float(h.score);
      w.join();
    }
    w.join();
  };
  const readHits = (bytes: Uint8Array): ScoredLabel[] => {
    const r = new BinaryReader(bytes);
    const labels: number[] = [];
    const scores: number[] = [];
    const out: ScoredLabel[] = [];
    while (r.pos < r.len) {
      const [field, type] = r.tag();
      if (c.hits === 'messages' && field === 1) {
        const m = new BinaryReader(r.bytes());
        let label = 0;
        let score = 0;
        while (m.pos < m.len) {
          const [f, t] = m.tag();
          if (f === 1) label = m.uint32();
          else if (f === 2) score = t === WireType.Bit64 ? m.double() : m.float();
          else m.skip(t);
        }
        out.push({ label, score });
      } else if (field === 1 && type === LEN) {
        const end = r.uint32() + r.pos;
        while (r.pos < end) labels.push(r.uint32());
      } else if (field === 2 && type === LEN) {
        const end = r.uint32() + r.pos;
        while (r.pos < end) scores.push(c.scores === 'double' ? r.double() : r.float());
      } else r.skip(type);
    }
    return c.hits === 'messages' ? out : labels.map((label, i) => ({ label, score: scores[i] }));
  };
  const vectorBytes = (v: Float32Array): Uint8Array =>
    c.vector === 'copy' ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v.buffer);
  const readFloats = (b: Uint8Array): Float32Array =>
    c.floats === 'copy' ? new Float32Array(Uint8Array.prototype.slice.call(b).buffer) : new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  const text = new TextDecoder();

  return {
    encodeRequest(q) {
      const w = new BinaryWriter();
      if (c.envelope === 'json') return w.tag(1, LEN).bytes(Buffer.from(JSON.stringify({ ...q, vector: Array.from(q.vector) }))).finish();
      if (q.k !== 0) w.tag(1, WireType.Varint).uint32(q.k);
      for (const t of q.terms) w.tag(2, LEN).string(t);
      if (q.df.length > 0) {
        w.tag(3, LEN).fork();
        for (const d of q.df) w.uint32(d);
        w.join();
      }
      if (q.docs !== 0) w.tag(4, WireType.Varint).uint32(q.docs);
      if (q.totalLength !== 0) w.tag(5, WireType.Varint).uint64(q.totalLength);
      // packed float: on a little-endian machine the wire bytes are the Float32Array's own bytes
      if (q.vector.length > 0) w.tag(6, LEN).bytes(vectorBytes(q.vector));
      return w.finish();
    },
    decodeRequest(bytes) {
      const r = new BinaryReader(bytes);
      if (c.envelope === 'json') {
        r.tag();
        const m = JSON.parse(text.decode(r.bytes()));
        return { ...m, vector: Float32Array.from(m.vector as number[]) };
      }
      const q: ShardSearchRequest = { k: 0, terms: [], df: [], docs: 0, totalLength: 0, vector: new Float32Array(0) };
      while (r.pos < r.len) {
        const [field, type] = r.tag();
        if (field === 1) q.k = r.uint32();
        else if (field === 2) q.terms.push(r.string());
        else if (field === 3 && type === LEN) {
          const end = r.uint32() + r.pos;
          while (r.pos < end) q.df.push(r.uint32());
        } else if (field === 4) q.docs = r.uint32();
        else if (field === 5) q.totalLength = Number(r.uint64());
        else if (field === 6 && type === LEN) q.vector = readFloats(r.bytes());
        else r.skip(type);
      }
      return q;
    },
    encodeResponse(res) {
      const w = new BinaryWriter();
      if (c.envelope === 'json') return w.tag(1, LEN).bytes(Buffer.from(JSON.stringify(res))).finish();
      writeHits(w, 1, res.text);
      writeHits(w, 2, res.dense);
      return w.finish();
    },
    decodeResponse(bytes) {
      const r = new BinaryReader(bytes);
      if (c.envelope === 'json') {
        r.tag();
        return JSON.parse(text.decode(r.bytes())) as ShardSearchResponse;
      }
      const out: ShardSearchResponse = { text: [], dense: [] };
      while (r.pos < r.len) {
        const [field, type] = r.tag();
        if (field === 1) out.text = readHits(r.bytes());
        else if (field === 2) out.dense = readHits(r.bytes());
        else r.skip(type);
      }
      return out;
    },
  };
}
