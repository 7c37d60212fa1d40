/**
 * The process guard of `mlops up`, in a real child process: an exception thrown from a timer and
 * an unhandled rejection are logged, and the process keeps running; without the guard the same
 * script dies.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/constructs/bundling';

const script = (guarded: boolean) => `
  import { installProcessGuard } from './lib/cli/process-guard.ts';
  ${guarded ? "installProcessGuard((line) => process.stderr.write(line + '\\\\n'));" : ''}
  setTimeout(() => { throw new Error('thrown from a timer'); }, 10);
  void Promise.reject(new Error('rejected, never handled'));
  setTimeout(() => { process.stdout.write('still running'); }, 200);
`;

function run(guarded: boolean) {
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(guarded)], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout: 30_000,
  });
}

describe('installProcessGuard', () => {
  it('logs an uncaught exception and an unhandled rejection, and the process keeps running', () => {
    const r = run(true);
    expect(r.stdout).toBe('still running');
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/an uncaught exception was caught and logged; the platform keeps running:\nError: thrown from a timer/);
    expect(r.stderr).toMatch(/an unhandled promise rejection was caught and logged[^\n]*\nError: rejected, never handled/);
  });

  it('fails if not installed: the same script dies', () => {
    const r = run(false);
    expect(r.stdout).toBe('');
    expect(r.status).not.toBe(0);
  });
});
