/**
 * The run's temporary directory (vitest.config.ts, test/temp-root.ts): the workers' and their
 * processes' temporary files go under one directory that the run removes, instead of into /tmp.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';

describe("the run's temporary directory", () => {
  it('is the workers\' tmpdir(), exists, and is what a process they start gets', () => {
    // arrange, act
    const dir = tmpdir();
    const child = spawnSync(process.execPath, ['-p', "require('node:os').tmpdir()"], { encoding: 'utf8' });
    // assess
    expect(basename(dir)).toMatch(/^mlops-vitest-\d+$/);
    expect(existsSync(dir)).toBe(true);
    expect(child.stdout.trim()).toBe(dir);
  });

  it("keeps tsx's compile cache across runs: its tsx-<uid> is a link out of the run's directory", () => {
    // arrange
    const link = join(tmpdir(), `tsx-${process.geteuid!()}`);
    // act
    const target = realpathSync(link);
    // assess
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(target.startsWith(realpathSync(tmpdir()))).toBe(false);
  });
});
