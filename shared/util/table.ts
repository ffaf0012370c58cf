/**
 * Number formatting and plain tables for terminals and Markdown: used by the lab's reports, the load tests and the
 * engine benchmarks alike. Pure functions, no I/O.
 */

/** Pick one unit for a set of durations (ms in, "12.3 ms" / "840 µs" / "95 ns" / "1.20 s" out). */
export function timeUnit(ms: number): { unit: string; scale: number } {
  const a = Math.abs(ms);
  if (a >= 1000) return { unit: 's', scale: 1 / 1000 };
  if (a >= 1) return { unit: 'ms', scale: 1 };
  if (a >= 0.001) return { unit: 'µs', scale: 1000 };
  return { unit: 'ns', scale: 1e6 };
}

/** Three significant digits, no exponent. */
export function sig3(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a === 0) return '0';
  return x.toPrecision(3);
}

export function formatMs(ms: number): string {
  const { unit, scale } = timeUnit(ms);
  return `${sig3(ms * scale)} ${unit}`;
}

/** "12.3 ms ± 0.40 ms": σ in the mean's unit so the two read together. */
export function formatMeanSd(mean: number, sd: number): string {
  const { unit, scale } = timeUnit(mean);
  return `${sig3(mean * scale)} ${unit} ± ${sig3(sd * scale)} ${unit}`;
}

export function formatOps(ops: number): string {
  if (!Number.isFinite(ops)) return '∞';
  if (ops >= 1e6) return `${(ops / 1e6).toFixed(2)}M`;
  if (ops >= 1e4) return `${(ops / 1e3).toFixed(1)}k`;
  return ops >= 100 ? ops.toFixed(0) : ops.toFixed(1);
}

export function formatBytes(b: number): string {
  const sign = b < 0 ? '-' : '';
  const a = Math.abs(b);
  if (a >= 1024 ** 3) return `${sign}${(a / 1024 ** 3).toFixed(2)} GB`;
  if (a >= 1024 ** 2) return `${sign}${(a / 1024 ** 2).toFixed(1)} MB`;
  if (a >= 1024) return `${sign}${(a / 1024).toFixed(1)} kB`;
  return `${sign}${a.toFixed(0)} B`;
}

/** Align columns with box-drawing separators for a terminal. */
export function renderTextTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `│ ${cells.map((c, i) => (c ?? '').padEnd(widths[i])).join(' │ ')} │`;
  const rule = (l: string, m: string, r: string) => `${l}${widths.map((w) => '─'.repeat(w + 2)).join(m)}${r}`;
  return [rule('┌', '┬', '┐'), line(header), rule('├', '┼', '┤'), ...rows.map(line), rule('└', '┴', '┘')].join('\n');
}

export function escapeMd(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function renderMarkdownTable(header: string[], rows: string[][], align?: Array<'l' | 'r'>): string {
  const sep = header.map((_, i) => ((align?.[i] ?? 'l') === 'r' ? '---:' : ':---'));
  return [header, sep, ...rows].map((r) => `| ${r.map((c) => escapeMd(c ?? '')).join(' | ')} |`).join('\n');
}

/** How to print a quantity of `unit`: a divisor and the printed unit, chosen from the magnitude of `value`. */
function unitScale(value: number, unit: string): { scale: number; label: string; sep: string } {
  const a = Math.abs(value);
  if (unit === 'ms') {
    const t = timeUnit(value);
    return { scale: 1 / t.scale, label: t.unit, sep: ' ' };
  }
  if (unit === 'bytes' || unit === 'B' || unit === 'MB') {
    const bytes = unit === 'MB' ? a * 1024 ** 2 : a;
    const base = unit === 'MB' ? 1 / 1024 ** 2 : 1;
    if (bytes >= 1024 ** 3) return { scale: 1024 ** 3 * base, label: 'GB', sep: ' ' };
    if (bytes >= 1024 ** 2) return { scale: 1024 ** 2 * base, label: 'MB', sep: ' ' };
    if (bytes >= 1024) return { scale: 1024 * base, label: 'kB', sep: ' ' };
    return { scale: base, label: 'B', sep: ' ' };
  }
  if (unit === '×' || unit === '%') return { scale: 1, label: unit, sep: '' };
  return { scale: 1, label: unit, sep: unit ? ' ' : '' };
}

/** A number as a reader wants it: whole numbers whole (with thousands separators), others to three figures. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return x > 0 ? '∞' : x < 0 ? '-∞' : 'n/a';
  if (Number.isInteger(x) || Math.abs(x) >= 100) return Math.round(x).toLocaleString('en-US');
  return sig3(x);
}

/** "23.9 ms", "1.5 MB", "1,204 req/s", "3 connections", "12.4×". Understands ms, bytes (and MB), ×, %. */
export function formatQuantity(value: number, unit: string): string {
  const { scale, label, sep } = unitScale(value, unit);
  const v = value / scale;
  const text = scale === 1 && (unit === 'bytes' || unit === 'B') ? v.toFixed(0) : unit === 'ms' || scale !== 1 ? sig3(v) : formatNumber(v);
  return `${text}${label ? `${sep}${label}` : ''}`;
}

/** "23.9 ms ± 2.10 ms": the error in the value's unit, so the two read together; the value alone without one. */
export function formatWithError(value: number, error: number | undefined, unit: string): string {
  if (error === undefined || !Number.isFinite(error)) return formatQuantity(value, unit);
  const { scale, label, sep } = unitScale(value, unit);
  const suffix = label ? `${sep}${label}` : '';
  const v = scale === 1 && unit !== 'ms' ? formatNumber(value) : sig3(value / scale);
  return `${v}${suffix} ± ${sig3(error / scale)}${suffix}`;
}
