/**
 * Checkpoint for 10-docker-images. `npm run checkpoint -- 10-docker-images` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts (only "is a Dockerfile that runs the entrypoint" applies: the naive image breaks
 * the other rules on purpose, and a test says which) and after.ts (every rule, and the repository's Dockerfile is its
 * output).
 *
 * Nothing is built here: the Dockerfile text is parsed (dockerfile-model.ts) and judged statically, the layer cache
 * simulated step by step, so the checkpoint takes milliseconds. shared/deploy/images.test.ts builds the real images
 * (when Docker is present) and checks the same properties on them: size, uid, --read-only, /healthz.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { REPO_ROOT } from '../../shared/util/paths.ts';
import { copySpec, parseDockerfile, problems, rebuiltAfter, type Dockerfile, type Rule } from './dockerfile-model.ts';
import { SPEC } from './spec.ts';

type Mod = typeof import('./after.ts');

/** Fails with the rule's own message (what check:exercises matches the wrong solutions' @rejected-with against). */
function holds(df: Dockerfile, rule: Rule): void {
  const bad = problems(df).filter((p) => p.rule === rule);
  if (bad.length > 0) throw new Error(bad.map((p) => p.message).join('\n'));
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  const text = impl.dockerfile(SPEC);
  const df = parseDockerfile(text);
  const judged = name !== 'before';

  it('is a Dockerfile whose image starts the entrypoint with a service command', () => {
    const final = df.stages[df.stages.length - 1]!;
    const all = df.stages.flatMap((s) => s.instructions);
    const entry = all.filter((i) => i.op === 'ENTRYPOINT').pop();
    expect(entry?.args ?? 'no ENTRYPOINT', 'the ENTRYPOINT runs shared/deploy/entrypoint (.js compiled, .ts under tsx)').toMatch(/shared\/deploy\/entrypoint\.(js|ts)/);
    expect(final.from, 'the last stage starts from one of the two lab bases or an earlier stage').toMatch(/rag-lab\/node-(base|build):20|^\w+$/);
  });

  it.runIf(judged)('the runtime gets the compiled app and its node_modules from a build stage', () => {
    const final = df.stages[df.stages.length - 1]!;
    const compiles = new Set(df.stages.filter((s) => s.instructions.some((i) => i.op === 'RUN' && /deploy\/compile\.ts/.test(i.args))).map((s) => s.name));
    const taken = final.instructions.filter((i) => i.op === 'COPY').map(copySpec).filter((c) => c.from !== undefined && compiles.has(c.from)).flatMap((c) => c.sources);
    expect(compiles.size, 'no stage runs shared/deploy/compile.ts (Node 20 cannot run the .ts source)').toBeGreaterThan(0);
    expect(taken.some((s) => /\/out(\/app)?\/?$/.test(s)), 'the runtime does not COPY --from the compile stage its /out/app').toBe(true);
    expect(taken.some((s) => /\/out(\/node_modules)?\/?$/.test(s)), 'the runtime does not COPY --from the compile stage its /out/node_modules').toBe(true);
  });
  it.runIf(judged)('keeps the install layer when one line of source changes', () => holds(df, 'layer-order'));
  it.runIf(judged)('ships no devDependency', () => holds(df, 'dev-dependencies'));
  it.runIf(judged)('runs as the non-root user, by uid', () => holds(df, 'non-root'));
  it.runIf(judged)('has a HEALTHCHECK on /healthz', () => holds(df, 'healthcheck'));
  it.runIf(judged)('bakes no secret into a layer', () => holds(df, 'secrets'));
  it.runIf(judged)('is read-only-safe', () => holds(df, 'read-only'));

  it.runIf(judged)('copies the compiled app last: a source change re-runs only the build and the copies after it', () => {
    const rerun = rebuiltAfter(df, 'shared/engine.ts');
    const runs = rerun.filter((s) => s.op === 'RUN');
    expect(runs.length, `a one-line change re-runs ${runs.map((s) => `line ${s.line} (${s.stage})`).join(', ')}`).toBeLessThanOrEqual(1);
    const final = df.stages[df.stages.length - 1]!;
    const copies = final.instructions.filter((i) => i.op === 'COPY').map(copySpec);
    const vectorsAt = copies.findIndex((c) => c.sources.some((s) => s.includes('.cache')));
    const appAt = copies.findIndex((c) => c.sources.some((s) => /\/out\/app\/?$/.test(s)));
    if (appAt >= 0 && vectorsAt >= 0) expect(vectorsAt, 'the 139 MB GloVe cache is copied before the app, which changes every commit').toBeLessThan(appAt);
  });

  it.runIf(name === 'before')('breaks the rules the lesson is about (the naive image)', () => {
    expect(new Set(problems(df).map((p) => p.rule))).toEqual(new Set(['dev-dependencies', 'non-root', 'healthcheck', 'secrets', 'read-only']));
  });

  it.runIf(name === 'after')("is the repository's Dockerfile", () => {
    const repo = readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
    expect(repo === text, 'Dockerfile differs from after.ts: regenerate it with node --import tsx t4_scalable_architecture/10-docker-images/after.ts > Dockerfile').toBe(true);
  });
  it.runIf(name === 'before')("is the repository's Dockerfile.naive", () => {
    const repo = readFileSync(path.join(REPO_ROOT, 'Dockerfile.naive'), 'utf8');
    expect(repo === text, 'Dockerfile.naive differs from before.ts: regenerate it with node --import tsx t4_scalable_architecture/10-docker-images/before.ts > Dockerfile.naive').toBe(true);
  });
});
