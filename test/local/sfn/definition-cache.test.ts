/**
 * The record of definitions that passed asl-validator (`<kitCacheDir()>/asl-valid/`): a start of
 * the platform checks each of the stage's machines once per content, not once per process, and a
 * definition the record passes comes out exactly as the validator leaves it.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { readAssembly } from '../../../lib/local/assembly';
import { type AslDefinition, assertRunnable, loadStateMachines } from '../../../lib/local/sfn';
import { LOCAL_STAGE, synthLocalStage } from '../../../lib/local/synth';

// A counting wrapper around the real validator: every call still validates.
const validator = vi.hoisted(() => ({ calls: 0 }));
vi.mock('asl-validator', async (importOriginal) => {
  const real = ((await importOriginal()) as { default: (...args: unknown[]) => unknown }).default;
  return {
    default: (...args: unknown[]) => {
      validator.calls++;
      return real(...args);
    },
  };
});

const dirs: string[] = [];
const temp = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};
let cacheDir: string;
const saved = process.env['MLOPS_CACHE_DIR'];
beforeEach(() => {
  cacheDir = temp('mlops-asl-cache-');
  process.env['MLOPS_CACHE_DIR'] = cacheDir;
  validator.calls = 0;
});
afterAll(() => {
  if (saved === undefined) delete process.env['MLOPS_CACHE_DIR'];
  else process.env['MLOPS_CACHE_DIR'] = saved;
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const records = () => (existsSync(join(cacheDir, 'asl-valid')) ? readdirSync(join(cacheDir, 'asl-valid')) : []);

/** Nested States (Map, Parallel) and one state that names its query language itself. */
const NESTED: AslDefinition = {
  StartAt: 'Each',
  States: {
    Each: {
      Type: 'Map',
      ItemsPath: '$.items',
      ItemProcessor: { StartAt: 'Inner', States: { Inner: { Type: 'Pass', End: true } } },
      Next: 'Both',
    },
    Both: {
      Type: 'Parallel',
      Branches: [
        { StartAt: 'Left', States: { Left: { Type: 'Pass', QueryLanguage: 'JSONPath', End: true } } },
        { StartAt: 'Right', States: { Right: { Type: 'Succeed' } } },
      ],
      End: true,
    },
  },
};

describe('the record of valid definitions', () => {
  it('validates a definition once: a new copy of it passes from the record, exactly as the validator left the first', () => {
    const first = structuredClone(NESTED);
    assertRunnable(first, 'state machine m');
    expect(validator.calls).toBe(1);
    expect(records()).toHaveLength(1);
    // The validator's own change: every state, nested ones included, names JSONPath.
    expect((first.States['Each']!['ItemProcessor'] as AslDefinition).States['Inner']!['QueryLanguage']).toBe('JSONPath');

    const second = structuredClone(NESTED);
    assertRunnable(second, 'state machine m');
    expect(validator.calls).toBe(1);
    expect(second).toEqual(first);
  });

  it('validates a changed definition again', () => {
    assertRunnable(structuredClone(NESTED), 'state machine m');
    const changed = structuredClone(NESTED);
    changed.States['Both']!['Comment'] = 'changed';
    assertRunnable(changed, 'state machine m');
    expect(validator.calls).toBe(2);
    expect(records()).toHaveLength(2);
  });

  it('fails if a refused definition is ever recorded: it is refused with its errors every time', () => {
    const bad = (): AslDefinition => ({ StartAt: 'A', States: { A: { Type: 'Pass', Next: 'Nowhere' } } });
    expect(() => assertRunnable(bad(), 'state machine m')).toThrow(/state machine m: the definition is not valid ASL: .*Nowhere/);
    expect(() => assertRunnable(bad(), 'state machine m')).toThrow(/not valid ASL/);
    expect(validator.calls).toBe(2);
    expect(records()).toEqual([]);
  });

  it("gives the kit's own machines the same definitions from the record as from the validator", () => {
    const stateDir = temp('mlops-asl-stage-');
    // The local assembly from the kit's synthesis cache (warmed by the run's global setup).
    delete process.env['MLOPS_CACHE_DIR'];
    const assembly = synthLocalStage(stateDir);
    process.env['MLOPS_CACHE_DIR'] = cacheDir;

    const validated = loadStateMachines(readAssembly(assembly, { stage: LOCAL_STAGE }));
    expect(validated.length).toBeGreaterThanOrEqual(6);
    expect(validator.calls).toBe(validated.length);
    const recorded = loadStateMachines(readAssembly(assembly, { stage: LOCAL_STAGE }));
    expect(validator.calls).toBe(validated.length);
    expect(recorded.map((m) => m.definition)).toEqual(validated.map((m) => m.definition));
  });
});
