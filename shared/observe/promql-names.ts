/**
 * The metric names a PromQL expression reads, for the cross-check of deploy/prometheus and deploy/grafana against
 * what the services export (a misspelt name in a rule never fires and never errors: Prometheus just finds no series).
 *
 * Not a PromQL parser: strings, label matchers `{…}`, ranges `[…]`, grouping clauses `by (…)` / `on (…)` … and
 * function calls are stripped, and what remains that looks like an identifier is a metric name. Good enough for the
 * rules and panels of this repository (rules.test.ts checks it on tricky expressions too).
 */

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'atan2']);

export function metricNamesIn(expr: string): string[] {
  let s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // grouping label lists
  s = s.replace(/\$\{?\w+\}?/g, ' '); // Grafana variables ($__rate_interval, ${datasource})
  const names = new Set<string>();
  const re = /[a-zA-Z_:][a-zA-Z0-9_:]*/g;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const word = m[0];
    const before = s[m.index - 1];
    if (before !== undefined && /[0-9.]/.test(before)) continue; // 1e3, 5m in an offset, 0.2
    const rest = s.slice(m.index + word.length);
    if (/^\s*\(/.test(rest)) continue; // a function call
    if (KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names];
}

/** Names in `exprs` that are neither exported (`known`) nor recorded by a rule (`recorded`), with where they were used. */
export function unknownMetrics(exprs: ReadonlyArray<{ where: string; expr: string }>, known: ReadonlySet<string>, recorded: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const { where, expr } of exprs) {
    for (const n of metricNamesIn(expr)) if (!known.has(n) && !recorded.has(n)) out.push(`${where}: ${n}`);
  }
  return out;
}
