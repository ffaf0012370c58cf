import { describe, expect, it } from 'vitest';
import { discoverLessons } from './lessons.ts';
import { HintsError, parseHints, readHints } from './hints.ts';

describe('parseHints', () => {
  it('reads three stages in order', () => {
    expect(parseHints('# Hints: x\n\n## 1\nnudge\n\n## 2\nnarrower\n\n## 3\nthe mechanism\n')).toEqual(['nudge', 'narrower', 'the mechanism']);
  });

  it.each([
    ['a missing stage', '## 1\na\n## 3\nc\n', /expected "## 2", found "## 3"/],
    ['an empty stage', '## 1\na\n## 2\n\n## 3\nc\n', /hint 2 is empty/],
    ['too few stages', '## 1\na\n## 2\nb\n', /expected 3 hints/],
  ])('rejects %s', (_what, text, msg) => {
    expect(() => parseHints(text)).toThrow(HintsError);
    expect(() => parseHints(text)).toThrow(msg);
  });
});

describe('every lesson with an exercise has hints', () => {
  it.each(discoverLessons().filter((l) => l.hasExercise).map((l) => [l.id, l.path]))('%s', (_id, dir) => {
    expect(readHints(dir)).toHaveLength(3);
  });
});
