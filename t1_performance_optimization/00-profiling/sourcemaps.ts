/**
 * Maps profile positions back to the TypeScript source.
 *
 * tsx compiles every .ts file to one line of JavaScript before Node runs it, so a `.cpuprofile` says
 * "analyzer.ts line 1, column 496" for every function in that file, and arrow functions lose their names. tsx also
 * registers a source map per file with Node; the profiled process writes them out when it exits (`dumpSourceMaps`),
 * and the reader maps each position back (`createResolver`): "analyzer.ts:33", and `stemOf` for
 * `const stemOf = (word: string): string => {` on that line.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { findSourceMap, SourceMap, type SourceMapPayload } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Every .ts file under `dirs` that this process loaded: file URL → source map payload. */
export function collectSourceMaps(dirs: string[]): Record<string, SourceMapPayload> {
  const out: Record<string, SourceMapPayload> = {};
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && !e.name.startsWith('.')) walk(p);
      } else if (e.name.endsWith('.ts')) {
        const url = pathToFileURL(p).href;
        const map = findSourceMap(url) ?? findSourceMap(p);
        if (map !== undefined) out[url] = map.payload;
      }
    }
  };
  for (const d of dirs) walk(d);
  return out;
}

/** Write the source maps of the loaded .ts files under `dirs` to `file` (called by the profiled process at exit). */
export function dumpSourceMaps(file: string, dirs: string[]): void {
  writeFileSync(file, JSON.stringify(collectSourceMaps(dirs)));
}

export interface Resolved {
  /** 0-based line in the original source. */
  line: number;
  /** A name for an unnamed function, read from the source line (`const stemOf = (…) =>` → 'stemOf'). */
  inferredName?: string;
}

export type Resolver = (url: string, line: number, column: number) => Resolved | undefined;

const ARROW_BINDING = /^\s*(?:export\s+)?(?:const|let|var)\s+([\w$]+)\s*(?::[^=]+)?=\s*(?:async\s+)?(?:\([^)]*\)|[\w$]+)\s*(?::\s*[^=]+)?=>/;

/** A resolver over the maps `dumpSourceMaps` wrote (an empty resolver when the file is missing). */
export function createResolver(file: string): Resolver {
  if (!existsSync(file)) return () => undefined;
  return resolverOf(JSON.parse(readFileSync(file, 'utf8')) as Record<string, SourceMapPayload>);
}

/** A resolver over source maps by file URL (`collectSourceMaps` of this process, or a file of them). */
export function resolverOf(payloads: Record<string, SourceMapPayload>): Resolver {
  const maps = new Map<string, { map: SourceMap; lines: string[] }>();
  return (url, line, column) => {
    const payload = payloads[url];
    if (payload === undefined) return undefined;
    let m = maps.get(url);
    if (m === undefined) {
      // tsx's maps carry no sourcesContent: read the source line from the file itself
      const content = payload.sourcesContent?.[0] ?? (existsSync(fileURLToPath(url)) ? readFileSync(fileURLToPath(url), 'utf8') : '');
      m = { map: new SourceMap(payload), lines: content.split('\n') };
      maps.set(url, m);
    }
    const entry = m.map.findEntry(line, column) as { originalLine?: number };
    if (entry.originalLine === undefined) return undefined;
    const match = ARROW_BINDING.exec(m.lines[entry.originalLine] ?? '');
    return { line: entry.originalLine, inferredName: match?.[1] };
  };
}
