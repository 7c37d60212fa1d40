/**
 * The platform log file: file-only lines stay off the terminal unless verbose, shown lines go to
 * both, and the file rotates at its size cap.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openPlatformLog, platformLogFile } from '../../../lib/local/log-file';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const stateDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'mlops-log-'));
  dirs.push(d);
  return d;
};

describe('the platform log', () => {
  it('keeps function lines off the terminal and shows progress lines on both', async () => {
    const dir = stateDir();
    let terminal = '';
    const log = openPlatformLog(dir, { terminal: (t) => (terminal += t) });
    log.write('[fn] START RequestId: 1 Version: $LATEST');
    log.writeRaw(Buffer.from('⚡ Done in 600ms\n'));
    log.show('mlops up: starting engines …');
    await log.close();
    expect(terminal).toBe('mlops up: starting engines …\n');
    const file = readFileSync(platformLogFile(dir), 'utf8');
    expect(file).toContain('[fn] START RequestId: 1 Version: $LATEST\n⚡ Done in 600ms\nmlops up: starting engines …\n');
    expect(platformLogFile(dir)).toBe(join(dir, 'logs', 'platform.log'));
  });

  it('prints everything on the terminal too when verbose', async () => {
    let terminal = '';
    const log = openPlatformLog(stateDir(), { verbose: true, terminal: (t) => (terminal += t) });
    log.write('[fn] REPORT RequestId: 1');
    log.writeRaw('bundled\n');
    await log.close();
    expect(terminal).toBe('[fn] REPORT RequestId: 1\nbundled\n');
  });

  it('rotates to platform.log.1 at its cap, so it never holds much more than twice the cap', async () => {
    const dir = stateDir();
    const log = openPlatformLog(dir, { maxBytes: 1000, terminal: () => {} });
    for (let i = 0; i < 100; i++) log.write(`line ${i} ${'x'.repeat(40)}`);
    await log.close();
    const file = platformLogFile(dir);
    expect(existsSync(`${file}.1`)).toBe(true);
    expect(statSync(file).size).toBeLessThanOrEqual(1000);
    expect(statSync(`${file}.1`).size).toBeLessThanOrEqual(1000);
    expect(readFileSync(file, 'utf8')).toContain('line 99 ');
  });

  it('appends across starts', async () => {
    const dir = stateDir();
    for (const n of [1, 2]) {
      const log = openPlatformLog(dir, { terminal: () => {} });
      log.write(`start ${n}`);
      await log.close();
    }
    expect(readFileSync(platformLogFile(dir), 'utf8')).toMatch(/start 1\n[\s\S]*start 2\n/);
  });
});
