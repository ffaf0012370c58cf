/**
 * A memlab leak filter for a server. memlab's built-in filter is written for browsers: it reports detached DOM
 * elements and unmounted React Fiber nodes, which a Node server has none of, so on a server it reports nothing
 * (or, with a filter that keeps everything, every cache entry and every object that merely lives long).
 *
 * The snapshots are taken the way find-leaks.ts takes them: the baseline once the server is warm, the target after a
 * burst of `requests` unique queries, the final after a second burst as large. memlab hands the filter the objects
 * allocated between baseline and target that are still alive in the final one. The second burst matters: an entry
 * of a bounded cache from the first burst has been evicted by then, so it is not even a candidate; what grows with
 * every request still is.
 *
 * What this filter adds is the server's notion of a leak: one long-lived holder that gained about one new object
 * per request. For every candidate it follows the retainer path memlab annotated (the shortest path from the GC
 * roots) up to the first object that existed before the burst: the holder (the op log's array, a Map's table, an
 * emitter's listener array). Holders that gained at least `share` × `requests` new objects are the leaks; one object
 * per such holder is reported to memlab, so it prints one trace per leak instead of one per request, and `groups`
 * keeps the whole picture: how many objects each holder gained, what they retain, and the path to the holder.
 *
 *     const filter = serverLeakFilter({ requests: 1000 });
 *     memlab.config.externalLeakFilter = filter;          // or a plain-JS copy: memlab find-leaks --leak-filter f.js
 *     await memlab.findLeaksBySnapshotFilePaths(baseline, target, final);
 *     filter.groups                                       // → [{ holder, added, retainedBytes, kinds, path }]
 */
import type { IHeapNode, IHeapSnapshot, ILeakFilter } from 'memlab';

export interface ServerLeakFilterOptions {
  /** Requests sent between the baseline and the target snapshot. */
  requests: number;
  /** New objects per request from which a holder counts as growing with requests. Default 0.5. */
  share?: number;
}

/** One holder that gained about an object per request. */
export interface LeakGroup {
  /** The holder, as memlab names it: '[Array] (object) @1011645'. */
  holder: string;
  /** New objects it holds (allocated in the first burst, alive after the second), not counting those inside them. */
  added: number;
  /** What those objects retain, in bytes (memlab's retained sizes, summed). */
  retainedBytes: number;
  /** What the new objects are, by kind, most first: 'closure (anonymous) × 600'. */
  kinds: string[];
  /** The retainer path from the GC roots to one of the new objects, one step per line, root first. */
  path: string[];
}

export interface ServerLeakFilter extends ILeakFilter {
  /** The leaks found by the last analysis, biggest first. */
  readonly groups: LeakGroup[];
}

/** The ids memlab passes (its own set class): iterable, with `has`. */
interface NodeIdSet extends Iterable<number> {
  has(id: number): boolean;
}

/** How memlab prints a node: '[name] (type) @id', a string by (the start of) its value. */
export function describeNode(node: Pick<IHeapNode, 'name' | 'type' | 'id'>): string {
  if (node.type === 'string') return `${JSON.stringify(node.name.length > 48 ? `${node.name.slice(0, 48)}…` : node.name)} (string) @${node.id}`;
  const name =
    node.name === 'system / Context'
      ? '<function scope>'
      : node.name !== ''
        ? node.name
        : node.type === 'closure'
          ? '<closure>'
          : `<${node.type}>`;
  return `[${name}] (${node.type}) @${node.id}`;
}

/** The retainer path memlab annotated (shortest path from the GC roots), root first, as memlab prints it. */
export function retainerPath(node: IHeapNode, maxSteps = 40): string[] {
  const steps: string[] = [];
  let n: IHeapNode | null = node;
  while (n && steps.length < maxSteps) {
    const edge: IHeapNode['pathEdge'] = n.pathEdge;
    steps.push(edge ? `--${String(edge.name_or_index)} (${edge.type})--->  ${describeNode(n)}` : describeNode(n));
    n = edge ? edge.fromNode : null;
  }
  return steps.reverse();
}

/** Heap objects that are the program's own (not V8's code, hidden or system objects). */
function isUserObject(node: IHeapNode): boolean {
  if (node.type === 'closure' || node.type === 'string' || node.type === 'concatenated string' || node.type === 'sliced string') return true;
  return node.type === 'object' && !node.name.startsWith('system /');
}

export function serverLeakFilter(opts: ServerLeakFilterOptions): ServerLeakFilter {
  const threshold = Math.max(1, Math.ceil(opts.requests * (opts.share ?? 0.5)));
  const groups: LeakGroup[] = [];
  /** One reported node per leaking holder. */
  const reported = new Set<number>();
  return {
    groups,
    beforeLeakFilter(snapshot: IHeapSnapshot, leakedNodeIds: NodeIdSet) {
      groups.length = 0;
      reported.clear();
      const byHolder = new Map<number, { holder: IHeapNode; children: IHeapNode[] }>();
      for (const id of leakedNodeIds) {
        const node = snapshot.getNodeById(id);
        if (!node || !isUserObject(node)) continue;
        // up the retainer path to the first object older than the burst: the holder. A new object inside another new
        // user object (the query string of a log entry) counts as part of it; V8's own structures in between (a Map's
        // table reallocated as it grew, a closure's scope) do not hide what they hold.
        let parent = node.pathEdge?.fromNode;
        let nested = false;
        while (parent && leakedNodeIds.has(parent.id)) {
          nested ||= isUserObject(parent);
          parent = parent.pathEdge?.fromNode;
        }
        if (!parent || nested) continue;
        let g = byHolder.get(parent.id);
        if (!g) byHolder.set(parent.id, (g = { holder: parent, children: [] }));
        g.children.push(node);
      }
      for (const { holder, children } of byHolder.values()) {
        if (children.length < threshold) continue;
        const kinds = new Map<string, number>();
        let retainedBytes = 0;
        for (const c of children) {
          const kind = c.type === 'object' || c.type === 'closure' ? `${c.type} ${c.name || '(anonymous)'}` : 'string';
          kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
          retainedBytes += c.retainedSize;
        }
        // the example: the new object that retains the most (a cached body rather than its key)
        const example = children.reduce((a, b) => (b.retainedSize > a.retainedSize ? b : a));
        reported.add(example.id);
        groups.push({
          holder: describeNode(holder),
          added: children.length,
          retainedBytes,
          kinds: [...kinds].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} × ${n}`),
          path: retainerPath(example),
        });
      }
      groups.sort((a, b) => b.retainedBytes - a.retainedBytes);
    },
    leakFilter(node: IHeapNode) {
      return reported.has(node.id);
    },
  };
}
