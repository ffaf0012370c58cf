import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * The one way the project's commands read their flags: strict parsing, `--help` printing the usage text, and a
 * one-line message with exit code 2 for anything unknown or malformed (no stack trace for a typo).
 */
export function parseCli<T extends NonNullable<ParseArgsConfig['options']>>(
  usage: string,
  options: T,
  argv: string[] = process.argv.slice(2),
  allowPositionals = false,
) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
  } catch (err) {
    fail(`${(err as Error).message}\n\n${usage}`);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(usage.trimEnd() + '\n');
    process.exit(0);
  }
  return parsed as ReturnType<typeof parseArgs<{ options: T; allowPositionals: boolean; strict: true }>>;
}

/** Prints `error: <message>` to stderr and exits with code 2 (bad input). */
export function fail(message: string, code = 2): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(code);
}

/** Parses a numeric flag, failing with a message that names it. */
export function numberFlag(name: string, value: string | undefined, fallback: number, check?: (n: number) => boolean): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || (check && !check(n))) fail(`--${name} got "${value}", which is not a valid value`);
  return n;
}

/** Runs an async main, turning thrown errors into `error: …` and a non-zero exit (2 for input errors). */
export function runMain(main: () => Promise<void>): void {
  main().catch((err: Error & { code?: string }) => {
    const inputError = err?.code === 'INVALID_INPUT' || err?.code === 'NOT_FOUND' || err?.code === 'CORRUPT';
    process.stderr.write(`error: ${err?.message ?? String(err)}\n`);
    if (!inputError && process.env.DEBUG) process.stderr.write(`${err?.stack}\n`);
    process.exit(inputError ? 2 : 1);
  });
}
