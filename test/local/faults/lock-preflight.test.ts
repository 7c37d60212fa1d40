/**
 * The state dir's lock (pid + process start time) and the checks `mlops up` makes before it
 * synthesizes or opens an engine, in-process.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AssemblyReadError } from '../../../lib/local/assembly';
import { DynamoDbStoreError } from '../../../lib/local/dynamodb';
import { layout } from '../../../lib/local/layout';
import {
  acquireStateLock,
  isSameProcessAlive,
  lockFileOf,
  lockHolder,
  processStartTime,
  StateLockedError,
} from '../../../lib/local/lock';
import { registryStoreProblem, startFailure } from '../../../lib/local/preflight';

const dir = () => mkdtempSync(join(tmpdir(), 'mlops-lock-'));
const sleeper = spawn('sleep', ['120']);
afterAll(() => {
  sleeper.kill('SIGKILL');
});

describe('the state lock', () => {
  it('is held by one holder at a time and free again after release', () => {
    const stateDir = dir();
    const lock = acquireStateLock(stateDir, 'mlops up');
    expect(lockHolder(stateDir)).toMatchObject({ pid: process.pid, command: 'mlops up' });
    expect(() => acquireStateLock(stateDir, 'mlops run')).toThrow(StateLockedError);
    expect(() => acquireStateLock(stateDir, 'mlops run')).toThrow(
      new RegExp(`in use by mlops up \\(pid ${process.pid}, since .*\\); stop it first or pass another --state-dir`),
    );
    lock.release();
    expect(lockHolder(stateDir)).toBeUndefined();
    acquireStateLock(stateDir, 'mlops run').release();
  });

  it('replaces a lock of a dead process and one whose pid was reused', () => {
    const stateDir = dir();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(lockFileOf(stateDir), JSON.stringify({ pid: dead, command: 'mlops up', since: 'then' }));
    acquireStateLock(stateDir, 'mlops up').release();

    writeFileSync(
      lockFileOf(stateDir),
      JSON.stringify({ pid: sleeper.pid, processStart: '1', command: 'mlops up', since: 'then' }),
    );
    if (process.platform === 'linux') acquireStateLock(stateDir, 'mlops up').release();
  });

  it('refuses while the recorded process (same pid, same start time) lives', () => {
    const stateDir = dir();
    writeFileSync(
      lockFileOf(stateDir),
      JSON.stringify({ pid: sleeper.pid, processStart: processStartTime(sleeper.pid!), command: 'mlops up', since: 'then' }),
    );
    expect(() => acquireStateLock(stateDir, 'mlops up')).toThrow(StateLockedError);
  });

  it('treats a brand-new unreadable lock as held (another process is writing it), an old one as stale', () => {
    const stateDir = dir();
    writeFileSync(lockFileOf(stateDir), '{"pid": 12');
    expect(() => acquireStateLock(stateDir, 'mlops up')).toThrow(StateLockedError);
    const old = new Date(Date.now() - 60_000);
    utimesSync(lockFileOf(stateDir), old, old); // cut short by a crash a minute ago
    acquireStateLock(stateDir, 'mlops up').release();
  });

  it('knows a process by pid and start time', () => {
    if (process.platform === 'linux') expect(processStartTime(process.pid)).toMatch(/^\d+$/);
    expect(isSameProcessAlive(process.pid, processStartTime(process.pid))).toBe(true);
    expect(isSameProcessAlive(0)).toBe(false);
    expect(isSameProcessAlive(-1)).toBe(false);
    expect(isSameProcessAlive(spawnSync(process.execPath, ['-e', '0']).pid!)).toBe(false);
  });
});

describe('preflight', () => {
  it('passes an empty state dir and a store with CURRENT; refuses a store without CURRENT or a lost one over models', () => {
    const stateDir = dir();
    expect(registryStoreProblem(stateDir)).toBeUndefined();
    const { dynamodb } = layout(stateDir);
    mkdirSync(dynamodb, { recursive: true });
    writeFileSync(join(dynamodb, '000003.log'), 'x');
    expect(registryStoreProblem(stateDir)).toMatch(/CURRENT file is missing; run `npx mlops up --reset-registry`/);
    writeFileSync(join(dynamodb, 'CURRENT'), 'MANIFEST-000002\n');
    expect(registryStoreProblem(stateDir)).toBeUndefined();

    const lost = dir();
    expect(registryStoreProblem(lost)).toBeUndefined(); // no models: a first start
    const model = join(layout(lost).bucket('artifacts'), 'runs', 'm', 'e', 'output');
    mkdirSync(model, { recursive: true });
    writeFileSync(join(model, 'model.tar.gz'), 'x');
    expect(registryStoreProblem(lost)).toMatch(/is gone, but the lake still holds trained models \(.*model\.tar\.gz\)/);
  });

  it('words each start failure as one sentence with its fix, and leaves bugs alone', () => {
    expect(startFailure(new AssemblyReadError('/s/assembly/manifest.json', 'Unexpected end of JSON input'))).toBe(
      'the local assembly is damaged: /s/assembly/manifest.json cannot be read: Unexpected end of JSON input; run `npx mlops up --synth` to synthesize it again',
    );
    expect(startFailure(new DynamoDbStoreError('the store is broken; run x'))).toBe('the store is broken; run x');
    expect(startFailure(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' }), 8080)).toMatch(/^port 8080/);
    expect(startFailure(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }))).toMatch(
      /state dir cannot be written \(ENOSPC/,
    );
    expect(startFailure(new TypeError('x is not a function'))).toBeUndefined();
  });
});
