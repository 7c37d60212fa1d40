/**
 * `mlops up` as a user runs it: `node bin/mlops.mjs up` in a child process, its terminal output
 * read from outside. A quiet start (function and bundler output in the log file, one banner with
 * every URL), ports derived from --port and stable across restarts, a flag moving one endpoint,
 * and a taken port refused before anything is synthesized.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../../lib/constructs/bundling';
import { platformLogFile } from '../../../lib/local/log-file';
import { close, freePortRun, listen } from '../../ports';

const stateDir = mkdtempSync(join(tmpdir(), 'mlops-up-cli-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(stateDir, { recursive: true, force: true });
});

interface Run {
  /** Everything the terminal showed: stdout then stderr. */
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | null;
  readonly ms: number;
}

/**
 * Starts `mlops up`; once it prints the ready banner runs `whileUp` (with the gateway URL), then
 * stops it with SIGINT and resolves with everything it printed. Resolves early if it exits.
 */
function up(args: string[], whileUp: (gateway: string) => Promise<void> = async () => {}, dir = stateDir) {
  return new Promise<Run>((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [`${PROJECT_ROOT}bin/mlops.mjs`, 'up', ...args, '--state-dir', dir], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stdout = '';
    let stderr = '';
    let ready = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!ready && /local platform ready[\s\S]*Ctrl-C/.test(stdout)) {
        ready = true;
        const gateway = /^gateway\s+(\S+)/m.exec(stdout)![1]!;
        whileUp(gateway).then(
          () => child.kill('SIGINT'),
          (err) => {
            child.kill('SIGINT');
            reject(err);
          },
        );
      }
    });
    child.once('close', (code) => resolve({ stdout, stderr, code, ms: performance.now() - started }));
  });
}

const urlOf = (stdout: string, label: string) => {
  const m = new RegExp(`^${label}\\s+(http://127\\.0\\.0\\.1:(\\d+))`, 'm').exec(stdout);
  return m ? { url: m[1]!, port: Number(m[2]) } : undefined;
};
const FUNCTION_LINE = /\] (START|END|REPORT) RequestId: /;

let base: number;
let first: Run;

beforeAll(async () => {
  base = await freePortRun(5);
  // The first start synthesizes (bundler output; --synth: not from the kit's assembly cache) and
  // serves a route through a Lambda function.
  first = await up(['--port', String(base), '--no-startup', '--synth'], async (gateway) => {
    const res = await fetch(`${gateway}/health`);
    expect(res.status).toBe(200);
  });
}, 600_000);

describe('mlops up on the terminal', () => {
  it('prints one banner with every URL, and no function or bundler output', () => {
    expect(first.code, first.stderr).toBe(0);
    const { stdout, stderr } = first;
    expect(urlOf(stdout, 'gateway')?.port).toBe(base);
    for (const label of ['AWS endpoint', 'S3', 'DynamoDB']) expect(urlOf(stdout, label), label).toBeDefined();
    expect(stdout).toMatch(/^ {2}Seldon v1\s+POST http:\/\/127\.0\.0\.1:\d+\/seldon\//m);
    expect(stdout).toMatch(/^ {2}OIP v2\s+POST http:\/\/127\.0\.0\.1:\d+\/v2\/models\//m);
    expect(stdout).toMatch(/^ {2}MLflow\s+ANY {2}http:\/\/127\.0\.0\.1:\d+\/api\/2\.0\/mlflow\//m);
    expect(stdout).toMatch(/^ {2}Feast\s+POST http:\/\/127\.0\.0\.1:\d+\/get-online-features/m);
    expect(stdout).toMatch(/^Athena\s+work group mlops-local, database mlops_local$/m);
    expect(stdout).toContain(`state dir       ${stateDir}`);
    expect(stdout).toContain(`log file        ${platformLogFile(stateDir)}`);
    // Each URL once: no line of the banner repeats.
    const urls = stdout.split('\n').filter((l) => l.includes('http://'));
    expect(new Set(urls).size).toBe(urls.length);
    const terminal = `${stdout}${stderr}`;
    expect(terminal).not.toMatch(FUNCTION_LINE);
    expect(terminal).not.toMatch(/Bundling asset|⚡ Done/);
    expect(terminal.split('\n').length).toBeLessThan(45);
  });

  it('writes the function and bundler output to the log file instead', () => {
    const log = readFileSync(platformLogFile(stateDir), 'utf8');
    expect(log).toMatch(/Bundling asset mlops-local\//);
    expect(log).toMatch(/\[mlops-local-featurestore-[^\]]+\] START RequestId: /);
    expect(log).toMatch(/\[mlops-local-featurestore-[^\]]+\] REPORT RequestId: .*Duration: /);
    expect(log).toContain('local platform ready');
  });
});

describe('ports', () => {
  it('derives the endpoints from --port and keeps them across a restart; --verbose shows function output', async () => {
    expect([urlOf(first.stdout, 'AWS endpoint')?.port, urlOf(first.stdout, 'S3')?.port, urlOf(first.stdout, 'DynamoDB')?.port]).toEqual([
      base + 1,
      base + 2,
      base + 3,
    ]);
    const again = await up(['--port', String(base), '--no-startup', '--verbose'], async (gateway) => {
      await fetch(`${gateway}/health`);
    });
    expect(again.code, again.stderr).toBe(0);
    for (const label of ['gateway', 'AWS endpoint', 'S3', 'DynamoDB']) {
      expect(urlOf(again.stdout, label)?.url, label).toBe(urlOf(first.stdout, label)?.url);
    }
    expect(again.stderr).toMatch(FUNCTION_LINE);
  }, 300_000);

  it('moves one endpoint with its flag and leaves the others derived', async () => {
    const s3Port = base + 4;
    const moved = await up(['--port', String(base), '--no-startup', '--s3-port', String(s3Port)]);
    expect(moved.code, moved.stderr).toBe(0);
    expect(urlOf(moved.stdout, 'S3')?.port).toBe(s3Port);
    expect(urlOf(moved.stdout, 'AWS endpoint')?.port).toBe(base + 1);
    expect(urlOf(moved.stdout, 'DynamoDB')?.port).toBe(base + 3);
  }, 300_000);

  it('refuses a taken derived port with exit 3, naming the port and its flag, before synthesizing', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'mlops-up-cli-taken-'));
    const holder = await listen(base + 3);
    try {
      const r = await up(['--port', String(base)], undefined, fresh);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(`port ${base + 3} on 127.0.0.1 (DynamoDB) is in use: pass --dynamodb-port <port>`);
      expect(existsSync(join(fresh, 'assembly'))).toBe(false);
      expect(r.stdout).toBe('');
    } finally {
      await close(holder);
      rmSync(fresh, { recursive: true, force: true });
    }
  }, 120_000);

  it('rejects two endpoints on one port as a usage error', async () => {
    const r = await up(['--port', String(base), '--s3-port', String(base + 1)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--s3-port must differ from --aws-port, but both put an endpoint on port \d+/);
  }, 120_000);
});
