/**
 * A small model of a Dockerfile, enough to judge one without building it: the stages, what each instruction copies,
 * which steps the layer cache re-runs after a file changes, and the lesson's rules (layer order, no dev
 * dependencies, non-root, HEALTHCHECK, no secrets, read-only-safe). The checkpoint runs in milliseconds on it; the
 * bench builds the real images.
 *
 *     const df = parseDockerfile(text);
 *     rebuiltAfter(df, 'shared/engine.ts')     // the steps a one-line change there re-runs
 *     problems(df)                             // [] for the multi-stage Dockerfile; one line per broken rule otherwise
 *
 * The cache model is the classic builder's: a step is reused when its parent is and its inputs are unchanged; a
 * `COPY` from the context is invalidated when a copied file changed; everything after a re-run step in the same stage
 * re-runs; a stage built `FROM` (or copied `--from`) a re-run stage re-runs from there (conservative: the real
 * builder reuses a `COPY --from` whose files came out byte-identical).
 */

export interface Instruction {
  /** Upper case: FROM, COPY, RUN, ENV, USER, ... */
  op: string;
  /** The text after the keyword, continuation lines joined. */
  args: string;
  /** 1-based line of the keyword. */
  line: number;
}

export interface Stage {
  /** `AS name`, else its index as a string. */
  name: string;
  /** The image or earlier stage it starts from (ARG defaults substituted). */
  from: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  args: Record<string, string>;
  stages: Stage[];
}

export function parseDockerfile(text: string): Dockerfile {
  const logical: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i]!;
    if (/^\s*(#|$)/.test(l)) continue;
    const start = i + 1;
    while (/\\\s*$/.test(l) && i + 1 < lines.length) {
      l = l.replace(/\\\s*$/, ' ');
      i++;
      if (!/^\s*#/.test(lines[i]!)) l += lines[i]!.trim();
    }
    const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(l);
    if (m) logical.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
  }
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of logical) {
    if (ins.op === 'ARG' && stages.length === 0) {
      const [k, v] = ins.args.split('=');
      if (k) args[k.trim()] = (v ?? '').trim();
      continue;
    }
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?/i.exec(ins.args);
      const from = (m?.[1] ?? '').replace(/\$\{?(\w+)\}?/g, (_, k: string) => args[k] ?? '');
      stages.push({ name: m?.[2] ?? String(stages.length), from, instructions: [] });
      continue;
    }
    if (stages.length === 0) throw new Error(`line ${ins.line}: ${ins.op} before the first FROM`);
    stages[stages.length - 1]!.instructions.push(ins);
  }
  if (stages.length === 0) throw new Error('no FROM: not a Dockerfile');
  return { args, stages };
}

/** The words of an instruction: JSON exec form `["a","b"]` or shell words. */
export function words(args: string): string[] {
  const t = args.trim();
  if (t.startsWith('[')) {
    try {
      return (JSON.parse(t) as unknown[]).map(String);
    } catch {
      /* not JSON: shell form */
    }
  }
  return t.split(/\s+/).filter(Boolean);
}

export interface CopySpec {
  from?: string;
  chown?: string;
  sources: string[];
  dest: string;
}

export function copySpec(ins: Instruction): CopySpec {
  const w = words(ins.args);
  const spec: CopySpec = { sources: [], dest: '' };
  const rest: string[] = [];
  for (const x of w) {
    if (x.startsWith('--from=')) spec.from = x.slice(7);
    else if (x.startsWith('--chown=')) spec.chown = x.slice(8);
    else if (!x.startsWith('--')) rest.push(x);
  }
  spec.dest = rest.pop() ?? '';
  spec.sources = rest;
  return spec;
}

/** Does a COPY source (`.`, `shared/`, `shared/engine.ts`, `package*.json`) cover this context path? */
export function covers(source: string, file: string): boolean {
  const s = source.replace(/^\.\//, '').replace(/\/$/, '');
  if (s === '.' || s === '' || s === '*') return true;
  if (s.includes('*')) return new RegExp(`^${s.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/.*)?$`).test(file);
  return file === s || file.startsWith(`${s}/`);
}

/** An `npm ci` / `npm install` step (shell or exec form, `npm` or `npm-cli.js`). */
export function isInstall(ins: Instruction): boolean {
  if (ins.op !== 'RUN') return false;
  const w = words(ins.args);
  const i = w.findIndex((x) => /(^|\/)npm(-cli\.js)?$/.test(x));
  return i >= 0 && ['ci', 'install', 'i'].includes(w[i + 1] ?? '');
}

/** An install that leaves devDependencies in node_modules (no `--omit=dev` / `--production`). */
export function installsDev(ins: Instruction): boolean {
  return isInstall(ins) && !/--omit[= ]dev|--production|--only[= ]prod/.test(ins.args);
}

export interface Step {
  stage: string;
  op: string;
  args: string;
  line: number;
}

/** The steps (RUN and COPY) the layer cache re-runs after `changed` (a context path) changed. */
export function rebuiltAfter(df: Dockerfile, changed: string): Step[] {
  const dirty = new Set<string>();
  const out: Step[] = [];
  for (const st of df.stages) {
    let d = dirty.has(st.from);
    for (const ins of st.instructions) {
      if (!d && ins.op === 'COPY') {
        const c = copySpec(ins);
        d = c.from !== undefined ? dirty.has(c.from) : c.sources.some((s) => covers(s, changed));
      }
      if (d && (ins.op === 'RUN' || ins.op === 'COPY' || ins.op === 'ADD')) out.push({ stage: st.name, op: ins.op, args: ins.args, line: ins.line });
    }
    if (d) dirty.add(st.name);
  }
  return out;
}

/** The stages a stage is made of: itself, the stage it is FROM, and so on. */
function lineage(df: Dockerfile, name: string): Stage[] {
  const out: Stage[] = [];
  for (let s = df.stages.find((x) => x.name === name); s; s = df.stages.find((x) => x.name === s!.from)) {
    if (out.includes(s)) break;
    out.push(s);
  }
  return out;
}

/**
 * Where a stage's node_modules holds devDependencies: the WORKDIR of its last install when that install kept them
 * (no `--omit=dev`) and no `npm prune --omit=dev` followed; undefined when it holds none.
 */
function devModulesDir(df: Dockerfile, name: string): string | undefined {
  const all = lineage(df, name).reverse().flatMap((s) => s.instructions);
  let workdir = '/';
  let dev: string | undefined;
  for (const ins of all) {
    if (ins.op === 'WORKDIR') workdir = ins.args.startsWith('/') ? ins.args : `${workdir.replace(/\/$/, '')}/${ins.args}`;
    if (isInstall(ins)) dev = installsDev(ins) ? workdir.replace(/\/$/, '') || '/' : undefined;
    if (ins.op === 'RUN' && /prune/.test(ins.args) && /--omit[= ]dev|--production/.test(ins.args)) dev = undefined;
  }
  return dev;
}

/** Does `COPY --from=<stage> <source>` take the node_modules that an install in `dir` filled? */
function takesModules(source: string, dir: string): boolean {
  const s = source.replace(/\/$/, '');
  const abs = s.startsWith('/') ? s : `${dir}/${s === '.' ? '' : s}`.replace(/\/$/, '');
  return abs === dir || abs === `${dir}/node_modules` || dir.startsWith(`${abs}/`) || abs === '' || abs === '/';
}

export interface Context {
  /** The file a one-line source change touches. Default 'shared/engine.ts'. */
  sourceFile?: string;
  /** The runtime base (node only). Default 'rag-lab/node-base:20'. */
  runtimeBase?: string;
  /** The packages that must not reach the runtime (for messages). */
  devPackages?: string[];
}

export const RULES = ['layer-order', 'dev-dependencies', 'non-root', 'healthcheck', 'secrets', 'read-only'] as const;
export type Rule = (typeof RULES)[number];

export interface Problem {
  rule: Rule;
  message: string;
}

const SECRET_NAME = /(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_?KEY|CREDENTIALS?)/i;

/** Every rule of the lesson the Dockerfile breaks, one message each, in the lesson's words. [] when it keeps them all. */
export function problems(df: Dockerfile, ctx: Context = {}): Problem[] {
  const src = ctx.sourceFile ?? 'shared/engine.ts';
  const runtimeBase = ctx.runtimeBase ?? 'rag-lab/node-base:20';
  const devs = (ctx.devPackages ?? ['tsx', 'vitest', 'typescript', 'express', '@langchain/core', '@orama/orama']).join(', ');
  const out: Problem[] = [];
  const final = df.stages[df.stages.length - 1]!;
  const finalAll = lineage(df, final.name).reverse().flatMap((s) => s.instructions);

  // layer order: a one-line source change must not re-run the install
  const reinstall = rebuiltAfter(df, src).filter((s) => s.op === 'RUN' && isInstall({ op: s.op, args: s.args, line: s.line }));
  if (reinstall.length > 0) {
    out.push({ rule: 'layer-order', message: `a one-line change in ${src} re-runs npm (line ${reinstall[0]!.line}, stage ${reinstall[0]!.stage}): copy the lockfile and install before copying the source` });
  }

  // dev dependencies in the runtime
  const devWhy: string[] = [];
  for (const ins of finalAll) {
    if (installsDev(ins)) devWhy.push(`line ${ins.line} installs them (npm ci without --omit=dev)`);
    if (ins.op === 'COPY') {
      const c = copySpec(ins);
      if (c.from === undefined && c.sources.some((s) => covers(s, 'node_modules/tsx/package.json'))) devWhy.push(`line ${ins.line} copies the host's node_modules (COPY ${c.sources.join(' ')})`);
      // node_modules itself, or the whole folder npm installed into
      const devDir = c.from !== undefined ? devModulesDir(df, c.from) : undefined;
      if (devDir !== undefined && c.sources.some((s) => takesModules(s, devDir))) {
        devWhy.push(`line ${ins.line} copies node_modules from stage ${c.from}, where npm installed every devDependency`);
      }
    }
    if ((ins.op === 'ENTRYPOINT' || ins.op === 'CMD') && /\btsx\b/.test(ins.args)) devWhy.push(`line ${ins.line} runs the service through tsx, a devDependency`);
  }
  if (devWhy.length > 0) out.push({ rule: 'dev-dependencies', message: `devDependencies in the runtime image (${devs}...): ${devWhy.join('; ')}` });

  // non-root
  const users = finalAll.filter((i) => i.op === 'USER');
  const user = users[users.length - 1]?.args.split(':')[0]?.trim();
  if (user === undefined || user === 'root' || user === '0') out.push({ rule: 'non-root', message: `the runtime runs as root (${user === undefined ? 'no USER' : `USER ${user}`}): set USER to the numeric uid of app (10001)` });
  else if (!/^\d+$/.test(user)) out.push({ rule: 'non-root', message: `USER ${user} is a name: Kubernetes' runAsNonRoot cannot verify it; runs as root unless the numeric uid is given (USER 10001)` });

  // healthcheck
  const hc = finalAll.filter((i) => i.op === 'HEALTHCHECK').pop();
  if (!hc || /^NONE\b/i.test(hc.args)) out.push({ rule: 'healthcheck', message: 'no HEALTHCHECK: Docker only knows the process exists, not that it answers /healthz' });
  else if (!/\/healthz/.test(hc.args)) out.push({ rule: 'healthcheck', message: `the HEALTHCHECK does not ask /healthz (${hc.args.slice(0, 80)})` });

  // secrets baked into any layer of any stage that reaches the runtime, or of the final stage
  for (const st of df.stages) {
    for (const ins of st.instructions) {
      if (ins.op === 'ENV' || ins.op === 'ARG') {
        for (const m of ins.args.matchAll(/(\w+)[= ]("[^"]*"|\S+)/g)) {
          if (SECRET_NAME.test(m[1]!) && m[2] && !/^\$/.test(m[2])) out.push({ rule: 'secrets', message: `bakes a secret into the image: ${ins.op} ${m[1]}=… (line ${ins.line}) is readable by anyone who can run docker history or docker inspect` });
        }
      }
    }
  }
  for (const ins of final.instructions) {
    if (ins.op !== 'COPY') continue;
    const c = copySpec(ins);
    if (c.from === undefined && c.sources.some((s) => covers(s, '.npmrc') || covers(s, '.env') || /\.npmrc|\.env$|id_rsa|\.pem$/.test(s))) {
      out.push({ rule: 'secrets', message: `bakes a secret into the image: line ${ins.line} copies ${c.sources.join(' ')} (.npmrc/.env hold registry tokens and keys) into the runtime` });
    }
  }

  // read-only root filesystem: nothing may need writing at start
  const ro: string[] = [];
  const base = final.from;
  if (base !== runtimeBase && !df.stages.some((s) => s.name === base)) ro.push(`the runtime starts FROM ${base}, not the runtime base ${runtimeBase} (npm and a shell come along)`);
  const copiesCache = finalAll.some((i) => i.op === 'COPY' && /\.cache/.test(i.args));
  if (!copiesCache) ro.push('no GloVe cache is copied in: the embedder would write 139 MB into .cache at its first start, which --read-only refuses');
  if (final.instructions.some((i) => i.op === 'RUN')) ro.push(`the runtime stage has RUN steps (line ${final.instructions.find((i) => i.op === 'RUN')!.line}): the runtime base has no shell; do that work in a build stage`);
  if (ro.length > 0) out.push({ rule: 'read-only', message: `not read-only-safe: ${ro.join('; ')}` });
  return out;
}
