import { beforeAll, describe, expect, it } from 'vitest';
import { isZeroVector, SifEmbedder, createDefaultEmbedder } from './sif.ts';

function cos(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function norm(a: Float32Array): number {
  return Math.sqrt(cos(a, a));
}

const CORPUS = [
  'the aircraft wing generates lift at high angles of attack',
  'boundary layer separation on an airfoil at supersonic speed',
  'heat transfer in a laminar boundary layer with pressure gradient',
  'stock markets fell sharply on fears of inflation',
  'the central bank raised interest rates again',
  'the cat slept on the warm carpet all afternoon',
  'a kitten rested on the rug by the fire',
  'the football team won the league championship',
  'shock waves in hypersonic flow around a blunt body',
  'buckling of thin cylindrical shells under axial compression',
];

describe('SifEmbedder (GloVe-100d)', () => {
  let sif: SifEmbedder;
  beforeAll(async () => {
    sif = await createDefaultEmbedder();
  }, 180_000);

  it('is named sif-glove-100d with dim 100', () => {
    expect(sif.name).toBe('sif-glove-100d');
    expect(sif.dim).toBe(100);
  });

  it('puts similar sentences closer than unrelated ones', async () => {
    const [cat, kitten, market, wing, airfoil] = await sif.embed([
      'The cat slept on the carpet.',
      'A kitten rested on the rug.',
      'Stock markets fell sharply on inflation fears.',
      'Lift on an aircraft wing at high angle of attack.',
      'Airfoil aerodynamics and wing lift.',
    ]);
    expect(cos(cat, kitten)).toBeGreaterThan(cos(cat, market));
    expect(cos(cat, kitten)).toBeGreaterThan(cos(kitten, wing));
    expect(cos(wing, airfoil)).toBeGreaterThan(cos(wing, market));
    expect(cos(wing, airfoil)).toBeGreaterThan(cos(airfoil, cat));
  });

  it('returns L2-normalised rows that are views of one contiguous buffer', async () => {
    const rows = await sif.embed(CORPUS);
    expect(rows).toHaveLength(CORPUS.length);
    for (const r of rows) {
      expect(r.length).toBe(100);
      expect(norm(r)).toBeCloseTo(1, 5);
      expect(r.buffer).toBe(rows[0].buffer);
    }
    expect(rows[1].byteOffset).toBe(rows[0].byteOffset + 100 * 4);
  });

  it('embeds a text without known non-stop words as the zero vector', async () => {
    const rows = await sif.embed(['', 'qxzjvw blorftangle', 'the of and to', '!!! ???', 'lift']);
    expect(isZeroVector(rows[0])).toBe(true);
    expect(isZeroVector(rows[1])).toBe(true);
    expect(isZeroVector(rows[2])).toBe(true);
    expect(isZeroVector(rows[3])).toBe(true);
    expect(isZeroVector(rows[4])).toBe(false);
  });

  it('returns an empty list for no texts', async () => {
    expect(await sif.embed([])).toEqual([]);
  });

  it('fit learns a unit principal component that embeddings are then orthogonal to', async () => {
    const e = await createDefaultEmbedder();
    expect(e.component).toBeNull();
    await e.fit(CORPUS);
    const u = e.component!;
    expect(norm(u)).toBeCloseTo(1, 5);
    for (const r of await e.embed(CORPUS)) expect(Math.abs(cos(r, u))).toBeLessThan(1e-5);
  });

  it('fit is deterministic, and state/restore reproduces identical embeddings without refitting', async () => {
    const a = await createDefaultEmbedder({ a: 3e-4 });
    await a.fit(CORPUS);
    const b = await createDefaultEmbedder({ a: 3e-4 });
    await b.fit(CORPUS);
    expect(b.component).toEqual(a.component);

    const state = JSON.parse(JSON.stringify(a.state()));
    const c = await createDefaultEmbedder(); // default a = 3e-5: restore adopts 3e-4 from the state
    c.restore(state);
    expect(c.smoothing).toBe(3e-4);
    const texts = [...CORPUS, 'wind tunnel tests of a delta wing'];
    const ea = await a.embed(texts);
    const ec = await c.embed(texts);
    for (let i = 0; i < texts.length; i++) expect(Array.from(ec[i])).toEqual(Array.from(ea[i]));
  });

  it('fit subsamples at most maxFitTexts texts', async () => {
    const e = await createDefaultEmbedder({ maxFitTexts: 4 });
    await e.fit(CORPUS);
    expect(e.component).not.toBeNull();
  });

  it('restore rejects a state of another shape or dimension', async () => {
    const e = await createDefaultEmbedder();
    expect(() => e.restore({ kind: 'other' })).toThrow(/not a SIF state/);
    expect(() => e.restore({ ...e.state(), dim: 50 })).toThrow(/dim 50/);
    expect(() => e.restore({ ...e.state(), component: [1, 2] })).toThrow(/component/);
  });
});

describe('the compact GloVe lookup', () => {
  it('gives the default embedder the same vectors, bit for bit, as the whole table in memory, in a fraction of the memory', async () => {
    const { loadGlove, openGloveLookup } = await import('./glove-cache.ts');
    const { setFileLoading } = await import('../index/mmap.ts');
    const full = new SifEmbedder(await loadGlove());
    // read, not mapped (index/mmap.ts): most words beyond the hot rows, read from the file by offset
    const prev = setFileLoading('read');
    const lookup = await openGloveLookup({ hot: 1000 });
    const readDefault = await openGloveLookup();
    setFileLoading(prev);
    const compact = new SifEmbedder(lookup);
    const texts = [
      'The Fulton County Grand Jury said Friday an investigation of Atlanta recent primary election produced no evidence',
      'café naïve über zweiundzwanzig antidisestablishmentarianism xylophone quokka',
      'the of and',
      'aerodynamic heating of a slender body at hypersonic speeds in a rarefied gas',
    ];
    await full.fit(texts);
    compact.restore(full.state());
    const a = await full.embed(texts);
    const b = await compact.embed(texts);
    for (let i = 0; i < texts.length; i++) expect([...b[i]]).toEqual([...a[i]]);
    expect(lookup.rank('the')).toBe(0);
    expect(lookup.rank('zzzznotaword')).toBe(-1);
    const bytes = (m: { bytes: number }[]) => m.reduce((s, p) => s + p.bytes, 0);
    expect(bytes(readDefault.memory())).toBeLessThan(bytes(full.memory()) / 3);
  });

  it("precision 'int8': its own name (an index records it), each text's vector within cosine 0.995 of float32's (0.998 for rare words alone), word vectors in ≤ 27% of the bytes", async () => {
    const f32 = await createDefaultEmbedder();
    const i8 = await createDefaultEmbedder({ precision: 'int8' });
    expect(f32.name).toBe('sif-glove-100d');
    expect(i8.name).toBe('sif-glove-100d-int8');
    const texts = ['aerodynamic heating of a slender body at hypersonic speeds', 'The Fulton County Grand Jury said Friday', 'café naïve quokka xylophone zweiundzwanzig'];
    await f32.fit(texts);
    i8.restore(f32.state());
    const [a, b] = [await f32.embed(texts), await i8.embed(texts)];
    for (let i = 0; i < texts.length; i++) {
      let dot = 0;
      for (let j = 0; j < a[i].length; j++) dot += a[i][j] * b[i][j];
      expect(dot, texts[i]).toBeGreaterThan(0.995);
    }
    const vectors = (e: SifEmbedder) => e.memory().filter((m) => m.part.startsWith('word vectors')).reduce((s, m) => s + m.bytes, 0);
    expect(vectors(i8) / vectors(f32)).toBeLessThanOrEqual(0.27);
  });
});
