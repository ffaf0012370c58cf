/**
 * `npm run keys`: create, list and revoke the API keys a server accepts (auth.ts). A running server re-reads the
 * keys file within about a second, so no restart is needed.
 *
 *     npm run keys -- create --scope write --name ingest-bot
 *     npm run keys -- list
 *     npm run keys -- revoke ingest-bot
 */
import { resolve } from 'node:path';
import { fail, numberFlag, parseCli, runMain } from '../util/cli.ts';
import { REPO_ROOT } from '../util/paths.ts';
import { DEFAULT_KEYS_FILE } from './access-cli.ts';
import { createKey, readKeys, revokeKey, SCOPES, type KeyRateLimits, type Scope } from './auth.ts';

const USAGE = `
Usage: npm run keys -- <create|list|revoke> [options]

  create --scope S[,S...] [--name NAME]   make a key and print it, once (only its SHA-256 is stored)
  list                                    the stored keys: id, name, scopes, created (never a key)
  revoke <id or name>                     remove a key; a running server refuses it within about a second

Scopes (a key gets only those it is given):
  read    POST /v1/query, when the server keys its reads (npm run serve -- --read-access key)
  write   POST /v1/documents, DELETE /v1/documents/:id, DELETE /v1/documents
  admin   GET /metrics

Options:
  --keys-file F        the keys file the server reads (default ${DEFAULT_KEYS_FILE}, env KEYS_FILE)
  --scope S[,S...]     create: read, write, admin (comma-separated)
  --name NAME          create: a label for list and revoke (default key-<time>)
  --write-limit N      create: this key's writes per rate-limit window instead of the server's budget (0 = unlimited)
  --read-limit N       create: this key's queries per window instead of the server's budget (0 = unlimited)
  --json               print JSON (create: {key, id, name, scopes})
  -h, --help           show this help
`;

runMain(async () => {
  const { values, positionals } = parseCli(
    USAGE,
    {
      'keys-file': { type: 'string' },
      scope: { type: 'string' },
      name: { type: 'string' },
      'write-limit': { type: 'string' },
      'read-limit': { type: 'string' },
      json: { type: 'boolean' },
    },
    process.argv.slice(2),
    true,
  );
  const file = resolve(REPO_ROOT, values['keys-file'] ?? process.env.KEYS_FILE ?? DEFAULT_KEYS_FILE);
  const [command, ...rest] = positionals;
  const out = (text: string) => process.stdout.write(`${text}\n`);

  switch (command) {
    case 'create': {
      if (rest.length > 0) fail(`create takes no positional arguments (got ${rest.join(' ')})`);
      if (!values.scope) fail(`create needs --scope (${SCOPES.join(', ')}, comma-separated)`);
      const scopes = values.scope.split(',').map((s) => s.trim());
      for (const s of scopes) if (!(SCOPES as readonly string[]).includes(s)) fail(`--scope ${s}: expected ${SCOPES.join(', ')}`);
      const limit = (flag: 'write-limit' | 'read-limit') =>
        values[flag] === undefined ? undefined : numberFlag(flag, values[flag], 0, (n) => Number.isInteger(n) && n >= 0);
      const rateLimit: KeyRateLimits = {};
      const w = limit('write-limit');
      const r = limit('read-limit');
      if (w !== undefined) rateLimit.write = w;
      if (r !== undefined) rateLimit.read = r;
      const name = values.name ?? `key-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      const { key, record } = createKey(file, name, scopes as Scope[], rateLimit);
      if (values.json) out(JSON.stringify({ key, id: record.id, name: record.name, scopes: record.scopes }));
      else {
        out(`created key ${record.id} "${record.name}" with scopes ${record.scopes.join(', ')} in ${file}`);
        out('the key (shown this once; only its SHA-256 is stored):');
        out(`  ${key}`);
      }
      return;
    }
    case 'list': {
      const keys = readKeys(file);
      if (values.json) {
        out(JSON.stringify(keys.map(({ hash: _hash, ...k }) => k)));
        return;
      }
      if (keys.length === 0) {
        out(`no keys in ${file}`);
        return;
      }
      out(`${keys.length} key${keys.length === 1 ? '' : 's'} in ${file}:`);
      for (const k of keys) {
        const limits = k.rateLimit ? `  limits ${JSON.stringify(k.rateLimit)}` : '';
        out(`  ${k.id}  ${k.scopes.join(',').padEnd(16)}  ${k.created}  ${k.name}${limits}`);
      }
      return;
    }
    case 'revoke': {
      if (rest.length !== 1) fail('revoke takes one id or name (see npm run keys -- list)');
      const removed = revokeKey(file, rest[0]);
      if (removed.length === 0) fail(`no key with id or name "${rest[0]}" in ${file}`);
      for (const k of removed) out(`revoked ${k.id} "${k.name}"`);
      return;
    }
    default:
      fail(command === undefined ? 'a command is needed: create, list or revoke (see --help)' : `unknown command "${command}" (see --help)`);
  }
});
