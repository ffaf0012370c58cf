/**
 * Flag parsing shared by every lab CLI: `util.parseArgs` with `strict: true`, `--help`, and bad flags turned into one
 * clean line plus exit code 2 (no stack trace).
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
  argv: string[],
  options: O,
  help: string,
  allowPositionals = false,
): { values: Values<O>; positionals: string[] } {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals,
    });
  } catch (err) {
    fail(`${(err as Error).message.split('\n')[0]} (see --help)`);
  }
  if (parsed.values.help) {
    process.stdout.write(`${help.trim()}\n`);
    process.exit(0);
  }
  return { values: parsed.values as Values<O>, positionals: parsed.positionals };
}

/** Print a one-line error and exit 2. */
export function fail(message: string, code = 2): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(code);
}

/** Run a CLI main: UsageError and known lab errors become one line + exit 2; anything else keeps its stack, exit 1. */
export function runMain(main: () => Promise<number | void>, known: Array<new (...a: never[]) => Error> = []): void {
  main().then(
    (code) => {
      process.exitCode = code ?? 0;
    },
    (err: unknown) => {
      if (err instanceof UsageError || known.some((K) => err instanceof K)) fail((err as Error).message);
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
