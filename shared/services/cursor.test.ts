import { describe, expect, it } from 'vitest';
import { CursorCodec, isCursorError } from './cursor.ts';

describe('CursorCodec', () => {
  const codec = new CursorCodec('test-secret');

  it('round-trips a key and is opaque (base64url and a signature)', () => {
    const c = codec.encode({ after: 'brown/ca07', scope: 'genre=news' });
    expect(c).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(codec.decode(c, 'genre=news')).toEqual({ after: 'brown/ca07', scope: 'genre=news' });
    // the same secret on another replica reads it; another secret does not
    expect(new CursorCodec('test-secret').decode(c, 'genre=news').after).toBe('brown/ca07');
    expect(() => new CursorCodec('other').decode(c, 'genre=news')).toThrow(/signature/);
  });

  it('refuses anything it did not make, with a CursorError (RagError INVALID_INPUT)', () => {
    const c = codec.encode({ after: 'd008', scope: '' });
    const [payload, sig] = c.split('.');
    const forged = `${Buffer.from(JSON.stringify({ v: 1, a: 'd020', s: '' })).toString('base64url')}.${sig}`;
    const cases: unknown[] = ['', 'garbage', 'a.b.c', `${payload}.`, forged, `${payload}.${sig.slice(0, -2)}AA`, 'x'.repeat(5000), 42, null];
    for (const bad of cases) {
      let err: unknown;
      try {
        codec.decode(bad, '');
      } catch (e) {
        err = e;
      }
      expect(isCursorError(err), `accepted ${JSON.stringify(bad)?.slice(0, 40)}`).toBe(true);
      expect((err as { code: string }).code).toBe('INVALID_INPUT');
    }
  });

  it('refuses a cursor of another listing', () => {
    const c = codec.encode({ after: 'd008', scope: 'genre=news' });
    expect(() => codec.decode(c, 'genre=fiction')).toThrow(/another listing/);
    expect(() => codec.decode(c, '')).toThrow(/another listing/);
  });
});
