/**
 * Faults through the real door: `node bin/mlops.mjs up` as a child process, `kill -9`, a second
 * `up`, a taken port, stale and corrupt files, a full disk (a small tmpfs where this machine lets
 * the test mount one). Each fault must fail the operation with one sentence and the command that
 * fixes it, never crash the platform, and never leave half a registration behind.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layout } from '../../../lib/local/layout';
import { lockFileOf, processStartTime } from '../../../lib/local/lock';
import { TRAINING_STATES } from '../../../stacks/training-pipeline-stack';
import { copyTrainedState } from '../trained-state';
import {
  type Cli,
  freshStateDir,
  hasStack,
  mlflow,
  mlops,
  mlopsRun,
  ready,
  removeTempDirs,
  stateEntered,
  stop,
  tempDir,
  TRAINING_INPUT,
  waitFor,
} from './helpers';

const running: Cli[] = [];
const start = (dir: string, ...args: string[]) => {
  const up = mlops(dir, 'up', '--port', '0', ...args);
  running.push(up);
  return up;
};
afterAll(async () => {
  for (const up of running) {
    if (up.child.exitCode === null && up.child.signalCode === null) {
      up.child.kill('SIGKILL');
      await up.exited;
    }
  }
  removeTempDirs();
});

beforeAll(() => {
  freshStateDir(); // synthesizes once for the file
}, 180_000);

describe('a second mlops up on the same state dir', () => {
  it('refuses with exit 3 while the first is starting and while it runs, naming the first', async () => {
    const dir = freshStateDir();
    // --synth: the first holds the lock through a synthesis of many seconds, the moment that used
    // to end the second in dynalite's "Database is closed".
    const first = start(dir, '--no-startup', '--synth');
    await waitFor('the first up to take the lock', () => (existsSync(lockFileOf(dir)) ? true : undefined), 60_000, 5);
    const during = await mlopsRun(dir, 'up', '--port', '0', '--no-startup');
    expect(during.code).toBe(3);
    expect(during.stderr).toMatch(new RegExp(`in use by mlops up \\(pid ${first.child.pid}`));
    expect(hasStack(during.stderr)).toBe(false);
    expect(existsSync(layout(dir).runtimeFile)).toBe(false); // it was refused during the start
    // A command would start a transient platform (and synthesize over the first one's assembly).
    const command = await mlopsRun(dir, 'executions');
    expect(command.code).toBe(3);
    expect(command.stderr).toMatch(/in use by mlops up/);
    expect(hasStack(command.stderr)).toBe(false);

    await ready(dir, first);
    const after = await mlopsRun(dir, 'up', '--port', '0', '--no-startup');
    expect(after.code).toBe(3);
    expect(after.stderr).toMatch(/already running|in use by mlops up/);
    const reset = await mlopsRun(dir, 'reset');
    expect(reset.code).toBe(3);
    expect(existsSync(layout(dir).dynamodb)).toBe(true);

    expect(await stop(first)).toBe(0);
    expect(existsSync(lockFileOf(dir))).toBe(false);
  }, 180_000);
});

describe('a taken port', () => {
  it('is reported before any synthesis, naming the port and --port, with exit 3', async () => {
    const blocker = createServer();
    const port = await new Promise<number>((r) =>
      blocker.listen(0, '127.0.0.1', () => r((blocker.address() as { port: number }).port)),
    );
    try {
      const dir = tempDir();
      const t0 = Date.now();
      const r = await mlopsRun(dir, 'up', '--port', String(port), '--synth');
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(new RegExp(`port ${port} on 127\\.0\\.0\\.1 \\(the gateway\\) is in use`));
      expect(r.stderr).toContain('--port');
      expect(r.stderr).not.toContain('synthesizing');
      expect(existsSync(join(dir, 'assembly'))).toBe(false);
      expect(Date.now() - t0).toBeLessThan(15_000);
    } finally {
      blocker.close();
    }
  }, 60_000);
});

describe('a runtime.json and lock left by a killed platform', () => {
  it('are stale when their pid now belongs to an unrelated live process, and refuse when it is the same process', async () => {
    const sleeper = spawn('sleep', ['120']);
    try {
      const dir = freshStateDir();
      const write = (processStart: string | undefined) => {
        const holder = { pid: sleeper.pid, processStart, command: 'mlops up', since: new Date().toISOString() };
        writeFileSync(lockFileOf(dir), JSON.stringify(holder));
        writeFileSync(
          layout(dir).runtimeFile,
          JSON.stringify({ ...holder, startedAt: holder.since, gatewayUrl: 'http://127.0.0.1:9', stage: 'x' }),
        );
      };
      const real = processStartTime(sleeper.pid!);
      if (real !== undefined) {
        write(real); // the very process that wrote them: alive, so `up` must refuse
        const refused = await mlopsRun(dir, 'up', '--port', '0', '--no-startup');
        expect(refused.code).toBe(3);
      }
      write('1'); // same pid, another start time: a reused pid
      const up = start(dir, '--no-startup');
      const info = await ready(dir, up);
      expect(info.pid).toBe(up.child.pid);
      expect(await stop(up)).toBe(0);
    } finally {
      sleeper.kill('SIGKILL');
    }
  }, 180_000);
});

describe('kill -9 during "Register model"', () => {
  let dir: string;
  let recovery: Cli;

  beforeAll(async () => {
    dir = freshStateDir();
    const up = start(dir);
    const info = await waitFor(
      'runtime.json',
      () => (existsSync(layout(dir).runtimeFile) ? JSON.parse(readFileSync(layout(dir).runtimeFile, 'utf8')) : undefined),
      120_000,
      20,
    );
    // The registered model exists without its version only while the register step runs.
    const seen = await waitFor(
      'the registered model without a version',
      async () => {
        const r = await mlflow(info, 'registered-models/get?name=wine-quality').catch(() => undefined);
        if (r?.status !== 200) return undefined;
        return (r.body['registered_model'].latest_versions ?? []).length;
      },
      120_000,
      0,
    );
    up.child.kill('SIGKILL');
    expect(seen, 'the kill came after the version was created').toBe(0);
    await up.exited;
    recovery = start(dir, '--no-startup');
    await ready(dir, recovery);
  }, 240_000);

  afterAll(async () => {
    if (recovery) await stop(recovery);
  });

  it('leaves no registered model, no active experiment and no RUNNING run after the restart', async () => {
    const info = JSON.parse(readFileSync(layout(dir).runtimeFile, 'utf8'));
    expect((await mlflow(info, 'registered-models/get?name=wine-quality')).status).toBe(404);
    const exp = await mlflow(info, 'experiments/get-by-name?experiment_name=wine-quality');
    if (exp.status === 200) {
      expect(exp.body['experiment'].lifecycle_stage).toBe('deleted');
      const runs = await mlflow(info, 'runs/search', {
        experiment_ids: [exp.body['experiment'].experiment_id],
        run_view_type: 'ALL',
      });
      for (const run of runs.body['runs'] ?? []) {
        expect(run.info.status).not.toBe('RUNNING');
        expect(run.info.lifecycle_stage).toBe('deleted');
      }
    } else {
      expect(exp.status).toBe(404);
    }
    expect(recovery.stderr).toContain('[recovery]');
  });

  it('records the killed execution ABORTED with its history and a stop date', async () => {
    const list = await mlopsRun(dir, 'executions', '--json');
    expect(list.code).toBe(0);
    const training = (JSON.parse(list.stdout) as { name: string; status: string; stateMachine: string }[]).find(
      (e) => e.stateMachine?.includes('training'),
    )!;
    expect(training.status).toBe('ABORTED');
    const d = await mlopsRun(dir, 'describe', training.name, '--json');
    expect(d.code).toBe(0);
    const described = JSON.parse(d.stdout) as {
      status: string;
      stopDate?: string;
      startDate: string;
      cause?: string;
      events: { type: string; stateEnteredEventDetails?: { name: string } }[];
    };
    expect(described.status).toBe('ABORTED');
    expect(described.stopDate).toBeDefined();
    expect(Date.parse(described.stopDate!)).toBeGreaterThanOrEqual(Date.parse(described.startDate));
    expect(described.cause).toMatch(/platform stopped/);
    const entered = described.events.filter((e) => e.type === 'TaskStateEntered').map((e) => e.stateEnteredEventDetails!.name);
    expect(entered).toContain(TRAINING_STATES.train);
    expect(entered.at(-1)).toBe(TRAINING_STATES.register);
    expect(described.events.at(-1)!.type).toBe('ExecutionAborted');
  });

  it('registers version 1 on the next full start', async () => {
    await stop(recovery);
    const up = start(dir);
    const info = await ready(dir, up);
    const latest = await mlflow(info, 'registered-models/get-latest-versions?name=wine-quality');
    expect(latest.body['model_versions'].map((v: { version: string }) => v.version)).toEqual(['1']);
    const exp = await mlflow(info, 'experiments/get-by-name?experiment_name=wine-quality');
    expect(exp.body['experiment'].lifecycle_stage).toBe('active');
    expect(await stop(up)).toBe(0);
  }, 180_000);
});

describe('kill -9 during "Train model"', () => {
  it('is recorded ABORTED at the next start with a history reaching the training job, and nothing registered', async () => {
    const dir = freshStateDir();
    const up = start(dir);
    // The record is written the moment a state is entered, so the file on disk shows it.
    await stateEntered(dir, 'training', TRAINING_STATES.train);
    up.child.kill('SIGKILL');
    await up.exited;

    const again = start(dir, '--no-startup');
    const info = await ready(dir, again);
    const list = JSON.parse((await mlopsRun(dir, 'executions', '--json')).stdout) as { name: string; status: string; stateMachine: string }[];
    const training = list.find((e) => e.stateMachine.includes('training'))!;
    expect(training.status).toBe('ABORTED');
    const described = JSON.parse((await mlopsRun(dir, 'describe', training.name, '--json')).stdout) as {
      stopDate?: string;
      events: { type: string; stateEnteredEventDetails?: { name: string } }[];
    };
    expect(described.stopDate).toBeDefined();
    const entered = described.events.filter((e) => e.type.endsWith('StateEntered')).map((e) => e.stateEnteredEventDetails!.name);
    expect(entered.at(-1)).toBe(TRAINING_STATES.train);
    expect((await mlflow(info, 'registered-models/get?name=wine-quality')).status).toBe(404);
    expect(await stop(again)).toBe(0);
  }, 240_000);
});

describe('corrupt or vanished state', () => {
  let trained: string;

  beforeAll(async () => {
    // The run's first start, stopped cleanly (test/local/trained-state.ts asserts both).
    trained = await copyTrainedState(tempDir());
  }, 600_000);

  const copy = () => {
    const dir = tempDir();
    cpSync(trained, dir, { recursive: true });
    return dir;
  };

  it('refuses to start when the registry store lost CURRENT, and changes nothing', async () => {
    const dir = copy();
    rmSync(join(layout(dir).dynamodb, 'CURRENT'));
    const before = execFileSync('ls', ['-R', dir]).toString();
    const r = await mlopsRun(dir, 'up', '--port', '0');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/CURRENT file is missing.*npx mlops up --reset-registry.*npx mlops reset/);
    expect(hasStack(r.stderr)).toBe(false);
    expect(execFileSync('ls', ['-R', dir]).toString()).toBe(before);
  }, 60_000);

  it('refuses to start when the registry store is gone but the lake holds models, until --reset-registry', async () => {
    const dir = copy();
    rmSync(layout(dir).dynamodb, { recursive: true });
    const r = await mlopsRun(dir, 'up', '--port', '0');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/is gone, but the lake still holds trained models.*--reset-registry/);
    expect(existsSync(layout(dir).dynamodb)).toBe(false);

    const up = start(dir, '--reset-registry');
    const info = await ready(dir, up);
    const latest = await mlflow(info, 'registered-models/get-latest-versions?name=wine-quality');
    expect(latest.body['model_versions'].map((v: { version: string }) => v.version)).toEqual(['1']);
    expect(await stop(up)).toBe(0);
  }, 180_000);

  it('reports a truncated LevelDB MANIFEST with the commands that fix it', async () => {
    const dir = copy();
    const manifest = readFileSync(join(layout(dir).dynamodb, 'CURRENT'), 'utf8').trim();
    truncateSync(join(layout(dir).dynamodb, manifest), 10);
    const r = await mlopsRun(dir, 'up', '--port', '0');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/DynamoDB store .* cannot be opened \(Corruption.*--reset-registry/);
    expect(hasStack(r.stderr)).toBe(false);
  }, 60_000);

  it('reports a truncated assembly manifest with --synth', async () => {
    const dir = copy();
    const file = join(dir, 'assembly', 'manifest.json');
    truncateSync(file, Math.floor(statSync(file).size / 2));
    const r = await mlopsRun(dir, 'up', '--port', '0');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/the local assembly is damaged: .*manifest\.json cannot be read.*npx mlops up --synth/);
    expect(hasStack(r.stderr)).toBe(false);
  }, 60_000);

  it('gives a CLI command one sentence and exit 3 when the platform dies under it', async () => {
    const dir = copy();
    const up = start(dir, '--no-startup'); // the copy is a first start's state: nothing to run
    await ready(dir, up);
    const run = mlops(dir, 'run', 'training', '--input', JSON.stringify(TRAINING_INPUT));
    await waitFor('the run to be followed', () => (run.stderr.includes('▶') ? true : undefined), 60_000, 10);
    up.child.kill('SIGKILL');
    expect(await run.exited).toBe(3);
    expect(run.stderr).toMatch(/the local platform stopped answering .*npx mlops up/);
    expect(hasStack(run.stderr)).toBe(false);
  }, 120_000);
});

/** A tmpfs needs root (or a user namespace); where it cannot be mounted the test says so and is skipped. */
function mountTmpfs(dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const disk = tempDir('mlops-faults-disk-');
// Probed once at collection (and unmounted at once), so a filtered run leaves no mount behind.
const canMount = mountTmpfs(disk, '1m') && (execFileSync('umount', [disk]), true);

describe.skipIf(!canMount)('a full disk (a 64 MB tmpfs)', () => {
  let up: Cli;

  beforeAll(() => {
    expect(mountTmpfs(disk, '64m')).toBe(true);
  });

  afterAll(async () => {
    if (up) await stop(up);
    execFileSync('umount', [disk]);
  });

  it('fails the execution with the cause and the start of one with a sentence, and the platform keeps serving', async () => {
    // The run's first start (lake seeded, wine-quality v1 registered), copied onto the small disk:
    // the start finds everything present, and the disk fills after it.
    await copyTrainedState(disk);
    up = start(disk);
    const info = await ready(disk, up);
    const filler = join(disk, 'filler');
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { stdio: 'ignore' });
    } catch {
      // dd stops with ENOSPC: the disk is full.
    }
    truncateSync(filler, statSync(filler).size - 300 * 1024); // room for a record, not for a run

    const run = await mlopsRun(disk, 'run', 'training', '--input', JSON.stringify(TRAINING_INPUT));
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^FAILED/m);
    expect(run.stdout).toMatch(/cause: .*(ENOSPC|no space left)/);

    // Full again. The failed run's clean-up (its job's scratch files) may still be freeing space
    // after the CLI returned, so fill until a second pass finds nothing left to take.
    for (let pass = 0; pass < 5; pass++) {
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${filler}-${pass + 2}`, 'bs=4k'], { stdio: 'ignore' });
      } catch {
        // ENOSPC again
      }
      if (statSync(`${filler}-${pass + 2}`).size === 0 && pass > 0) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    const refused = await mlopsRun(disk, 'run', 'training', '--input', JSON.stringify(TRAINING_INPUT));
    expect(refused.code, `stdout: ${refused.stdout}\nstderr: ${refused.stderr}`).toBe(3);
    expect(refused.stderr).toMatch(/execution record could not be written: ENOSPC/);
    expect(hasStack(refused.stderr)).toBe(false);

    // A registry write on the full disk: LevelDB's I/O error fails the request (it used to be
    // thrown from a dynalite callback and end the process).
    // (A 4,000-character tag value: names are held to MLflow's 256 characters.)
    const write = await mlflow(info, 'experiments/create', {
      name: 'full-disk',
      tags: [{ key: 'padding', value: 'y'.repeat(4000) }],
    });
    expect(write.status).toBe(500);
    expect(write.body['error_code']).toBe('INTERNAL_ERROR');

    expect(up.child.exitCode).toBeNull();
    const answer = await mlflow(info, 'registered-models/get-latest-versions?name=wine-quality');
    expect(answer.status).toBe(200);
  }, 240_000);
});
