/**
 * Publishing a run as the project's reference: each lesson's README gets its figures between
 * `<!-- lab:reference -->` and `<!-- /lab:reference -->`, the chapter README and the root README get the "at a
 * glance" table between `<!-- lab:glance -->` and `<!-- /lab:glance -->`, and each lesson folder gets
 * `reference.json` (what the report shows beside the learner's figures). Pure text functions here; the CLI writes.
 */
import type { LessonReference } from './reference.ts';
import { commandsOf, type LessonResult, type RunResults } from './results.ts';
import { headlineRows, headlineTitle, HEADLINE_HEADER, orderVariants, summaryLines, TABLE_HEADER, variantCells } from './lesson-table.ts';
import { METRIC_HEADER, overviewHeader, overviewRows } from './report/model.ts';
import { formatWithError, renderMarkdownTable } from '../util/table.ts';

export class PublishError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PublishError';
  }
}

/** Replace what stands between `<!-- name -->` and `<!-- /name -->` (markers kept); throws if they are missing. */
export function replaceBlock(text: string, name: string, content: string, where = 'the file'): string {
  const open = `<!-- ${name} -->`;
  const close = `<!-- /${name} -->`;
  const a = text.indexOf(open);
  const b = text.indexOf(close);
  if (a < 0 || b < 0 || b < a) throw new PublishError(`${where} has no "${open}" … "${close}" block`);
  return `${text.slice(0, a + open.length)}\n${content.trim()}\n${text.slice(b)}`;
}

export function machineOf(results: RunResults): string {
  const e = results.env;
  return `${e.cpu} × ${e.cores} cores, ${(e.memory / 1024 ** 3).toFixed(1)} GB, Node ${e.node}`;
}

function commandOf(results: RunResults, l: LessonResult): string {
  return l.command ?? commandsOf(results.env)[0]?.command ?? results.env.command;
}

/** The figures a lesson's README shows, from one run. */
export function lessonBlock(results: RunResults, l: LessonResult): string {
  const out: string[] = [];
  out.push(
    `From \`${commandOf(results, l)}\` (${l.mode} sizes: \`${JSON.stringify(l.size)}\`), run \`${results.runId}\`, ` +
      `${machineOf(results)}, commit ${l.commit?.slice(0, 7) ?? results.env.commit?.slice(0, 7) ?? 'none'}, ${l.startedAt.slice(0, 10)}.`,
    '',
  );
  const h = l.headline;
  if (h && (h.metric !== undefined || l.pairs) && h.rows.length) {
    out.push(`**${headlineTitle(h)}**`, '', renderMarkdownTable(HEADLINE_HEADER, headlineRows(h, l.baseline), ['l', 'r', 'l', 'r']), '');
    out.push('**Time per call**', '');
  } else if (h) {
    out.push(`**${headlineTitle(h)}**: the mean time per call.`, '');
  }
  out.push(renderMarkdownTable(TABLE_HEADER, orderVariants(l.variants).map((v) => variantCells(v, l.baseline, l.pairs)), ['l', 'r', 'r', 'r', 'r', 'r', 'r']));
  const lines = summaryLines(l);
  if (lines.length) out.push('', ...lines.map((s) => `- ${s}`));
  const others = l.metrics.filter((m) => m.name !== h?.metric);
  if (others.length) {
    out.push('', '**Other figures from the same run**', '');
    out.push(renderMarkdownTable(METRIC_HEADER, others.map((m) => [m.variant ?? '', m.name, formatWithError(m.value, m.error, m.unit), m.note ?? '']), ['l', 'l', 'r', 'l']));
  }
  return out.join('\n');
}

/** The "at a glance" table of a run (optionally one chapter's lessons), with the line that names the run. */
export function glanceBlock(results: RunResults, chapter?: string): string {
  const sub: RunResults = { ...results, lessons: results.lessons.filter((l) => !chapter || l.chapter === chapter) };
  const commands = [...new Set(sub.lessons.map((l) => `\`${commandOf(results, l)}\``))].join(', ');
  return [
    `From ${commands}, run \`${results.runId}\`, ${machineOf(results)}, commit ${results.env.commit?.slice(0, 7) ?? 'none'}, ` +
      `${results.env.date.slice(0, 10)}. Each lesson on its own headline metric, against its own baseline, ± one standard error.`,
    '',
    renderMarkdownTable(overviewHeader(sub), overviewRows(sub)),
  ].join('\n');
}

/** reference.json for a lesson, from a full run (and optionally the same lesson's quick-run duration). */
export function referenceOf(results: RunResults, l: LessonResult, quickDurationMs?: number): LessonReference {
  return {
    lesson: l.id,
    runId: results.runId,
    command: commandOf(results, l),
    commit: l.commit ?? results.env.commit,
    date: l.startedAt,
    machine: machineOf(results),
    mode: l.mode,
    ...(l.headline
      ? {
          headline: {
            name: l.headline.name,
            unit: l.headline.unit,
            better: l.headline.better,
            ...(l.headline.metric !== undefined ? { metric: l.headline.metric } : {}),
            rows: l.headline.rows.map(({ variant, value, error, against, change, verdict }) => ({
              variant,
              value,
              ...(error !== undefined ? { error } : {}),
              ...(against !== undefined ? { against } : {}),
              ...(change !== undefined ? { change } : {}),
              ...(verdict !== undefined ? { verdict } : {}),
            })),
          },
        }
      : {}),
    timeMs: Object.fromEntries(l.variants.filter((v) => v.stats).map((v) => [v.name, v.stats!.mean])),
    durationMs: { [l.mode]: l.durationMs, ...(quickDurationMs !== undefined ? { quick: quickDurationMs } : {}) },
  };
}
