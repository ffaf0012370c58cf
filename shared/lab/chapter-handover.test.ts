/**
 * `npm run t4 -- --only capstone …` hands over to the capstone soak (shared/deploy/soak.ts) with the other arguments:
 * the argv → command mapping, and the hand-over itself through the soak's `--help` and a bad flag (neither needs
 * Docker nor runs the soak).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { handoverCommand } from './chapter.ts';
import { REPO_ROOT } from '../util/paths.ts';

const soak = (...rest: string[]) => ({ command: '/usr/bin/node', args: ['--import', 'tsx', 'shared/deploy/soak.ts', ...rest] });

describe('handoverCommand', () => {
  it('maps `--only capstone` of t4 to the soak, every other argument passed through in order', () => {
    const h = (...argv: string[]) => handoverCommand('t4', argv, '/usr/bin/node');
    expect(h('--only', 'capstone')).toEqual(soak());
    expect(h('--only', 'capstone', '--quick')).toEqual(soak('--quick'));
    expect(h('--minutes', '5', '--only', 'capstone')).toEqual(soak('--minutes', '5'));
    expect(h('--only=capstone', '--capacity', '200', '--write-rate', '3')).toEqual(soak('--capacity', '200', '--write-rate', '3'));
    expect(h('--only', 't4/capstone', '--help')).toEqual(soak('--help'));
    // what the soak does not know goes to it too: it says so itself
    expect(h('--only', 'capstone', '--json')).toEqual(soak('--json'));
  });

  it('leaves everything else to the chapter: lessons, other chapters, no --only', () => {
    expect(handoverCommand('t4', ['--only', '09-fault-recovery', '--quick'])).toBeUndefined();
    expect(handoverCommand('t4', ['--quick'])).toBeUndefined();
    expect(handoverCommand('t4', ['--only'])).toBeUndefined();
    expect(handoverCommand('t4', ['--', '--only', 'capstone'])).toBeUndefined();
    expect(handoverCommand('t1', ['--only', 'capstone'])).toBeUndefined();
    expect(handoverCommand('t4', ['--only', 't1/capstone'])).toBeUndefined();
  });
});

describe('npm run t4 -- --only capstone (the hand-over, without Docker)', () => {
  const t4 = (...argv: string[]) => spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 't4_scalable_architecture/index.ts'), ...argv], { cwd: REPO_ROOT, encoding: 'utf8' });

  it("t4's --help names it", () => {
    const r = t4('--help');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/--only capstone\s+the capstone soak/);
  });

  it("passes --help to the soak (its usage, exit 0) and returns the soak's exit code for a bad flag (2)", () => {
    const help = t4('--only', 'capstone', '--help');
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/The capstone soak/);
    expect(help.stdout).toMatch(/--minutes N/);
    expect(help.stderr).toContain('handing over to: node --import tsx shared/deploy/soak.ts --help');
    const bad = t4('--only', 'capstone', '--no-such-flag');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/error: .*--no-such-flag/);
  }, 60_000);
});
