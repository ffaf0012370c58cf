/**
 * The one way the project's commands read their flags: `util.parseArgs` with `strict: true`, `--help` printing the
 * usage text, and a one-line `error: …` with exit code 2 for anything unknown or malformed (no stack trace for a
 * typo or a bad input file).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A usage error: the CLI prints `error: <message>` and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parsed flag values: strings for `type: 'string'` options, booleans otherwise; undefined when absent. */
export type Values<O extends Options> = { [K in keyof O]?: O[K]['type'] extends 'string' ? string : boolean };

export function parseCli<O extends Options>(
  usage: string,
  options: O,
  argv: string[] = process.argv.slice(2),
  allowPositionals = false,
): { values: Values<O>; positionals: string[] } {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals });
  } catch (err) {
    fail(`${(err as Error).message.split('\n')[0]} (see --help)`);
  }
  if (parsed.values.help) {
    process.stdout.write(`${usage.trim()}\n`);
    process.exit(0);
  }
  return { values: parsed.values as Values<O>, positionals: parsed.positionals };
}

/** Prints `error: <message>` to stderr and exits (code 2: bad input). */
export function fail(message: string, code = 2): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(code);
}

/** Parses a numeric flag, failing with a message that names it. */
export function numberFlag(name: string, value: string | undefined, fallback: number, check?: (n: number) => boolean): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (check && !check(n))) fail(`--${name} got "${value}", which is not a valid value`);
  return n;
}

/** Engine errors caused by the caller's input (RagError codes): reported in one line, exit 2. */
const INPUT_ERROR_CODES = new Set(['INVALID_INPUT', 'NOT_FOUND', 'CORRUPT']);

/**
 * Runs a CLI main. A UsageError, an instance of one of the `known` error classes, or an engine input error becomes
 * one line and exit 2; anything else keeps its stack and exits 1. A number returned by main is the exit code.
 */
export function runMain(main: () => Promise<number | void>, known: Array<new (...a: never[]) => Error> = []): void {
  main().then(
    (code) => {
      process.exitCode = code ?? 0;
    },
    (err: unknown) => {
      const code = (err as { code?: unknown })?.code;
      if (
        err instanceof UsageError ||
        known.some((K) => err instanceof K) ||
        (typeof code === 'string' && INPUT_ERROR_CODES.has(code))
      ) {
        fail((err as Error).message);
      }
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
