/**
 * The README is executable: every command it documents is read from README.md itself (see
 * `examples.ts`) and run as a user would run it, through the real binaries: `/bin/sh -c` in the
 * project root, `npx mlops …` and `npx cdk …` through npx, `curl` (the real binary when installed)
 * against ONE `npm start` child on a free port, on a temporary state dir, with no AWS credentials.
 * Exit codes are asserted, and what the README says a command prints is matched against its output,
 * so an example edited to something the code does not do fails this test.
 *
 * What is not run as written is listed below with its reason: SKIPPED (needs AWS, or cannot run
 * inside `npm test`), PHASES (when a command runs, for those that cannot run in README order), and
 * SUBSTITUTIONS (every rewrite of a command or of its expected output). Entries that no longer
 * match any README command fail the test, so the lists cannot rot.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DELIVERY, selectEnvironmentNames } from '../../lib/config';
import { PROJECT_ROOT } from '../../lib/constructs/bundling';
import { freePortRun } from '../ports';
import { type CliRun, offlineEnv, quietSynth, SHARED_SYNTHS, type SharedSynth, sharedSynth } from '../cli-synth';
import { extractExamples, outputPattern, type ReadmeExample, shellWords, splitComment } from './examples';

const README = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');

/** Commands that are not run, each with why. Everything else in the README runs. */
const SKIPPED: readonly { readonly match: RegExp; readonly reason: string }[] = [
  { match: /^npx cdk bootstrap\b/, reason: 'needs an AWS account and credentials (it deploys the CDKToolkit stack)' },
  { match: /^npx cdk deploy\b/, reason: 'needs an AWS account, credentials and Docker' },
  {
    match: /^npx mlops seed --raw-bucket\b/,
    reason: "writes to a deployed lake through the AWS credential chain; the '…' are the DataLake stack's outputs",
  },
  { match: /^npm (ci|install|i)\b/, reason: 'would reinstall node_modules under the running test (any of its flags); .ci/run runs npm ci before npm test' },
  { match: /^npm test$/, reason: 'this test is part of npm test' },
  {
    match: /^aws /,
    reason:
      "the AWS CLI is not installed by npm ci and '<port>' is a placeholder; the same endpoint answers every npx mlops command here through the AWS SDK",
  },
  {
    match: /^npx tsx bench\//,
    reason: 'a benchmark: minutes of load on the machine, and its figures are measurements, not output the README promises',
  },
];

type Phase = 'platform' | 'local' | 'server' | 'restart' | 'after-stop' | 'cdk';

/** When a command runs, for those that cannot run in README order against the running platform. */
const PHASES: readonly { readonly match: RegExp; readonly phase: Phase; readonly reason: string }[] = [
  { match: /^npm start$/, phase: 'platform', reason: 'starts the one local platform every local example talks to' },
  {
    match: /^npx mlops up\b/,
    phase: 'restart',
    reason: 'a second mlops up on the same state dir refuses while one runs: it runs after Ctrl-C, as a restart',
  },
  { match: /^npx mlops serve\b/, phase: 'server', reason: 'serves until Ctrl-C: started, probed, stopped' },
  { match: /^npx mlops reset$/, phase: 'after-stop', reason: 'reset refuses while mlops up runs (exit 3)' },
  {
    match: /^npx cdk /,
    phase: 'cdk',
    reason:
      'needs no platform: runs beside the local examples, one after another (each synthesis is seconds of CPU); the runs of SHARED_SYNTHS (test/cli-synth.ts) are the ones other test files read',
  },
];

/** What every long-running command answers once it is up, to probe it before Ctrl-C. */
const PROBES: Partial<Record<Phase, string>> = {
  platform: '/health',
  restart: '/health',
  server: '/v2/health/ready',
};

interface Context {
  /** README port → the free port used instead (the README's 8080 is the platform's). */
  readonly ports: Map<number, number>;
  readonly work: string;
  readonly stateDir: string;
  startupExecution?: string;
  readonly outdir: () => string;
}

/**
 * Every rewrite of a command (`command`) or of what it is expected to print (`output`), with why.
 * Applied in this order.
 */
const SUBSTITUTIONS: readonly {
  readonly name: string;
  readonly to: ReadonlyArray<'command' | 'output'>;
  readonly match: RegExp;
  readonly apply: (text: string, ctx: Context) => string;
  readonly reason: string;
}[] = [
  {
    name: 'npm start → npm start -- --port <free>',
    to: ['command'],
    match: /^npm start$/,
    apply: (t, ctx) => `${t} -- --port ${ctx.ports.get(8080)}`,
    reason: 'tests never bind a fixed port (8080 may be taken); npm passes the flag on to mlops up',
  },
  {
    name: '--port <n> → --port <free>',
    to: ['command'],
    match: /--port (\d+)/,
    apply: (t, ctx) => t.replace(/--port (\d+)/g, (_, n) => `--port ${ctx.ports.get(Number(n))}`),
    reason: 'tests never bind a fixed port',
  },
  {
    name: '127.0.0.1:<n> → 127.0.0.1:<free>',
    to: ['command', 'output'],
    match: /127\.0\.0\.1:(\d+)/,
    apply: (t, ctx) => t.replace(/127\.0\.0\.1:(\d+)/g, (_, n) => `127.0.0.1:${ctx.ports.get(Number(n))}`),
    reason: 'the same free port, where a command reaches it or prints it (8080: the platform npm start started)',
  },
  {
    name: '/tmp/ → <temp dir>/',
    to: ['command', 'output'],
    match: /(?<![\w.])\/tmp\//,
    apply: (t, ctx) => t.replace(/(?<![\w.])\/tmp\//g, `${ctx.work}/`),
    reason: 'train, predict and serve share /tmp/model and /tmp/p.csv; a private directory keeps runs apart',
  },
  {
    name: 'startup-<ms> → the start-up training execution',
    to: ['command'],
    match: /\bstartup-\d+\b/,
    apply: (t, ctx) => t.replace(/\bstartup-\d+\b/g, ctx.startupExecution ?? 'startup-execution-not-found'),
    reason: "start-up's training run is named startup-<ms since epoch>: the README shows one, this run has its own",
  },
  {
    name: '.mlops/local → the state dir',
    to: ['output'],
    match: /\.mlops\/local\b/,
    apply: (t, ctx) => t.replace(/\.mlops\/local\b/g, ctx.stateDir),
    reason: 'MLOPS_STATE_DIR points every command at a temporary state dir',
  },
  {
    name: 'npx cdk synth … → npx cdk synth … -q -o <temp dir>',
    to: ['command'],
    match: /^npx cdk synth\b/,
    apply: (t, ctx) => quietSynth(t, ctx.outdir()),
    reason: 'the cloud assembly goes to a temporary directory, not cdk.out in the worktree, and no template to stdout',
  },
];

// One run per distinct command: the README names `npm start` several times.
const examples: ReadmeExample[] = [];
for (const e of extractExamples(README)) {
  const seen = examples.findIndex((x) => x.command === e.command);
  if (seen < 0) examples.push(e);
  else
    examples[seen] = {
      ...examples[seen]!,
      prints: [...examples[seen]!.prints, ...e.prints],
      ...(e.stdout === undefined ? {} : { stdout: e.stdout }),
      ...(e.fails === undefined ? {} : { fails: e.fails }),
    };
}
const skipOf = (e: ReadmeExample) => SKIPPED.find((s) => s.match.test(e.command));
const phaseOf = (e: ReadmeExample): Phase => PHASES.find((p) => p.match.test(e.command))?.phase ?? 'local';
const runnable = examples.filter((e) => !skipOf(e));
const inPhase = (phase: Phase) => runnable.filter((e) => phaseOf(e) === phase);

const HAS_CURL = spawnSync('/bin/sh', ['-c', 'command -v curl'], { encoding: 'utf8' }).status === 0;

const work = mkdtempSync(join(tmpdir(), 'mlops-readme-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const ctx: Context = {
  ports: new Map(),
  work,
  stateDir: join(work, 'state'),
  outdir: () => mkdtempSync(join(work, 'cdk-out-')),
};

/**
 * The child environment: a temporary state dir, and offline as `offlineEnv` makes it (no AWS
 * credentials or instance metadata, no CDK telemetry or notices, a dead loopback proxy), so nothing
 * a command does leaves the machine. The shared `npx cdk synth` runs have the same environment.
 */
const CHILD_ENV: NodeJS.ProcessEnv = { ...offlineEnv(work), MLOPS_STATE_DIR: ctx.stateDir };

/** The shared run (test/cli-synth.ts) that is this README command, if any. */
const sharedOf = (e: ReadmeExample): SharedSynth | undefined =>
  (Object.keys(SHARED_SYNTHS) as SharedSynth[]).find((name) => SHARED_SYNTHS[name] === e.command);

function substitute(text: string, to: 'command' | 'output'): string {
  return SUBSTITUTIONS.filter((s) => s.to.includes(to) && s.match.test(text)).reduce(
    (t, s) => s.apply(t, ctx),
    text,
  );
}

type Run = CliRun;

/** A command in its own process group, so Ctrl-C (SIGINT to the group) reaches npx, npm and node alike. */
class Child {
  readonly process: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<Run>;

  constructor(readonly command: string) {
    this.process = spawn('/bin/sh', ['-c', command], {
      cwd: PROJECT_ROOT,
      env: CHILD_ENV,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process.stdout!.on('data', (d) => (this.stdout += d));
    this.process.stderr!.on('data', (d) => (this.stderr += d));
    this.exited = new Promise((resolve) =>
      this.process.on('close', (code, signal) =>
        resolve({ command, code, signal, stdout: this.stdout, stderr: this.stderr }),
      ),
    );
  }

  signal(sig: NodeJS.Signals): void {
    try {
      process.kill(-this.process.pid!, sig);
    } catch {
      // already gone
    }
  }

  async waitFor(ready: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let gone = false;
    void this.exited.then(() => (gone = true));
    while (!ready()) {
      if (gone) throw new Error(`'${this.command}' exited before it was ready:\n${this.stdout}\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`'${this.command}' not ready in ${timeoutMs} ms:\n${this.stdout}\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Ctrl-C, then SIGKILL if it has not stopped after `graceMs`. */
  async stop(graceMs = 60_000): Promise<Run> {
    this.signal('SIGINT');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const r = await this.exited;
    clearTimeout(timer);
    return r;
  }
}

/** Children still running, stopped in afterAll when a filtered run (`-t`) leaves some behind. */
const running = new Set<Child>();

async function runToEnd(command: string, timeoutMs = 300_000): Promise<Run> {
  if (!HAS_CURL && command.startsWith('curl ')) return curlThroughFetch(command);
  const child = new Child(command);
  running.add(child);
  void child.exited.then(() => running.delete(child));
  const timer = setTimeout(() => child.signal('SIGKILL'), timeoutMs);
  const r = await child.exited;
  clearTimeout(timer);
  return r;
}

/**
 * Where curl is not installed (.ci/run installs it): the curl options the README uses, sent with
 * fetch, still as real HTTP to the platform's process.
 */
async function curlThroughFetch(command: string): Promise<Run> {
  const words = shellWords(command).slice(1);
  let method: string | undefined;
  let body: string | undefined;
  let url: string | undefined;
  const headers: Record<string, string> = {};
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === '-s') continue;
    else if (w === '-X') method = words[++i];
    else if (w.startsWith('-X')) method = w.slice(2);
    else if (w === '-H') {
      const [k, ...v] = words[++i]!.split(':');
      headers[k!.trim()] = v.join(':').trim();
    } else if (w === '-d') {
      body = words[++i];
      // curl's `-d @file`: the body is the file's content (a path from the project root).
      if (body?.startsWith('@')) body = readFileSync(join(PROJECT_ROOT, body.slice(1)), 'utf8');
      headers['Content-Type'] ??= 'application/x-www-form-urlencoded';
    } else if (w.startsWith('-')) throw new Error(`curl option ${w} is not understood without curl: install curl`);
    else url = w;
  }
  const res = await fetch(url!, { method: method ?? (body === undefined ? 'GET' : 'POST'), headers, body });
  return { command, code: 0, signal: null, stdout: await res.text(), stderr: '' };
}

/**
 * Exit code and output as the README documents them. A command stopped with Ctrl-C has no exit
 * code of its own to compare: it must have ended by that SIGINT (sh dies of it) or exited cleanly.
 */
function assertDocumented(e: ReadmeExample, r: Run, stoppedByCtrlC = false): void {
  const where = `README.md:${e.line} \`${e.command}\` ran as \`${r.command}\``;
  const all = `${r.stdout}\n${r.stderr}`;
  if (stoppedByCtrlC) {
    expect(r.signal === 'SIGINT' || r.code === 0 || r.code === 130, `${where} stops on Ctrl-C\n${all}`).toBe(true);
  } else if (e.fails !== undefined) {
    expect(r.code, `${where} must fail\n${all}`).not.toBe(0);
    expect(all, where).toContain(substitute(e.fails, 'output'));
  } else {
    expect(r.code, `${where}: exit code\n${all}`).toBe(0);
  }
  if (e.stdout !== undefined) expect(r.stdout.trim(), where).toMatch(outputPattern(substitute(e.stdout, 'output'), true));
  for (const p of e.prints) expect(all, `${where} prints \`${p}\``).toMatch(outputPattern(substitute(p, 'output'), false));
}

/** A README port's stand-in: `mlops up --port P` also binds P + 1 … P + 3. */
const freePort = () => freePortRun(4);

/** The port a long-running command listens on, after substitution. */
const portOf = (command: string): number => Number(/--port (\d+)/.exec(command)?.[1]);

describe('the README extractor', () => {
  const md = [
    '# T',
    '```sh',
    'npx a --x 1 \\',
    "  --y '# not a comment'   # a note",
    '# {"out":1}',
    'npx b   # fails: it broke',
    '```',
    '| c | d |',
    '|---|---|',
    '| `npx c` prints `one` and `two …` | `--flag` `npm start` |',
    '',
    'Run `curl -s http://x` then `npx mlops seed` prints `done`.',
  ].join('\n');

  it('reads sh lines with continuations, output lines, fails comments, table cells and prose', () => {
    expect(extractExamples(md)).toEqual([
      { command: "npx a --x 1 --y '# not a comment'", line: 3, section: 'T', where: 'sh', stdout: '{"out":1}', prints: [] },
      { command: 'npx b', line: 6, section: 'T', where: 'sh', fails: 'it broke', prints: [] },
      { command: 'npx c', line: 10, section: 'T', where: 'table', prints: ['one', 'two …'] },
      { command: 'npm start', line: 10, section: 'T', where: 'table', prints: [] },
      { command: 'curl -s http://x', line: 12, section: 'T', where: 'prose', prints: [] },
      { command: 'npx mlops seed', line: 12, section: 'T', where: 'prose', prints: ['done'] },
    ]);
  });

  it('splits comments outside quotes only, and reads shell words as sh does', () => {
    expect(splitComment(`curl -d '{"a":"#1"}' # c`)).toEqual({ code: `curl -d '{"a":"#1"}'`, comment: 'c' });
    expect(shellWords(`curl -XPOST "http://h/a?b=1" -d '{"x": [1]}' a\\ b`)).toEqual([
      'curl',
      '-XPOST',
      'http://h/a?b=1',
      '-d',
      '{"x": [1]}',
      'a b',
    ]);
  });

  it('sends curl options with fetch as curl sends them (the fallback where curl is not installed)', async () => {
    const seen: string[] = [];
    const echo = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${req.headers['content-type']} ${body}`);
        res.end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(echo.address() as { port: number }).port}`;
    try {
      const commands = [
        `curl -s ${url}/a -H 'Content-Type: application/json' -d '{"x":1}'`,
        `curl -XPOST ${url}/b -d '{"y":2}'`,
        `curl "${url}/c?name=wine-quality"`,
      ];
      const arrived = [
        'POST /a application/json {"x":1}',
        'POST /b application/x-www-form-urlencoded {"y":2}',
        'GET /c?name=wine-quality undefined ',
      ];
      for (const c of commands) expect((await curlThroughFetch(c)).stdout).toBe('{"ok":true}');
      expect(seen).toEqual(arrived);
      if (HAS_CURL) {
        // The same requests from the real curl arrive the same way.
        seen.length = 0;
        for (const c of commands) expect((await runToEnd(c)).stdout).toBe('{"ok":true}');
        expect(seen).toEqual(arrived);
      }
    } finally {
      echo.close();
    }
  });

  it('matches expected output with … as any text', () => {
    expect('SUCCEEDED in 0.61 s: arn:aws:states:x').toMatch(outputPattern('SUCCEEDED in … s: arn:aws:states:…', true));
    expect('FAILED in 0.61 s: arn').not.toMatch(outputPattern('SUCCEEDED in … s: arn…', true));
    expect('a (6 rows) b').toMatch(outputPattern('(6 rows)', false));
  });
});

describe("the README's commands, run as a user would", () => {
  let platform: Child | undefined;
  let server: Child | undefined;
  const cdkRuns = new Map<string, Promise<Run>>();
  let closing = false;

  beforeAll(async () => {
    for (const e of runnable)
      for (const m of `${e.command} ${e.prints.join(' ')} ${e.stdout ?? ''}`.matchAll(/(?:--port |127\.0\.0\.1:)(\d+)/g))
        if (!ctx.ports.has(Number(m[1]))) ctx.ports.set(Number(m[1]), await freePort());
    if (!ctx.ports.has(8080)) ctx.ports.set(8080, await freePort());

    // The CDK CLI needs no platform: one synthesis after another, beside the local examples. A shared
    // run is the one run of that command for every file that reads it (this file may be the one to run it).
    let chain: Promise<unknown> = Promise.resolve();
    for (const e of inPhase('cdk')) {
      const command = substitute(e.command, 'command');
      const shared = sharedOf(e);
      const run = chain.then(() =>
        closing
          ? { command, code: null, signal: null, stdout: '', stderr: 'not started: the run ended' }
          : shared
            ? sharedSynth(shared)
            : runToEnd(command, 900_000),
      );
      chain = run;
      cdkRuns.set(e.command, run);
    }

    const [start] = inPhase('platform');
    platform = new Child(substitute(start!.command, 'command'));
    const url = `http://127.0.0.1:${ctx.ports.get(8080)}`;
    await platform.waitFor(() => platform!.stdout.includes(url), 600_000);
    // The start-up training run's name, for `describe startup-<ms>`.
    const listed = await runToEnd('npx mlops executions --json');
    const runs = JSON.parse(listed.stdout) as { name: string; stateMachine: string }[];
    ctx.startupExecution = runs.find((r) => /^startup-\d+$/.test(r.name) && /training/i.test(r.stateMachine))?.name;
  }, 900_000);

  afterAll(async () => {
    closing = true;
    await server?.stop(10_000);
    await platform?.stop(10_000);
    await Promise.all([...running].map((c) => c.stop(5_000)));
    await Promise.allSettled(cdkRuns.values());
  }, 120_000);

  it('runs every README command or names why not, and every list entry still matches one', () => {
    expect(inPhase('platform'), 'exactly one `npm start`').toHaveLength(1);
    for (const s of SKIPPED) expect(examples.some((e) => s.match.test(e.command)), `skip ${s.match}`).toBe(true);
    for (const p of PHASES) expect(runnable.some((e) => p.match.test(e.command)), `phase ${p.match}`).toBe(true);
    for (const s of SUBSTITUTIONS) {
      const texts = runnable.flatMap((e) => [e.command, ...e.prints, e.stdout ?? '']);
      expect(texts.some((t) => s.match.test(t)), `substitution ${s.name}`).toBe(true);
    }
    // Each shared `npx cdk synth` run (test/cli-synth.ts) is a README command, word for word.
    for (const [name, command] of Object.entries(SHARED_SYNTHS)) {
      expect(inPhase('cdk').map((e) => e.command), `shared run ${name}`).toContain(command);
    }
    // `npm start` is `mlops up` on the default port the README's curls use.
    expect(JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')).scripts.start).toBe('node bin/mlops.mjs up');
  });

  for (const e of examples) {
    const skip = skipOf(e);
    if (skip) it.skip(`${e.command} — not run: ${skip.reason}`, () => {});
  }

  it('npm start: the platform is up and answers', async () => {
    expect(ctx.startupExecution, 'a start-up training execution named startup-<ms>').toMatch(/^startup-\d+$/);
    const res = await fetch(`http://127.0.0.1:${ctx.ports.get(8080)}${PROBES.platform}`);
    expect(res.status).toBe(200);
  });

  for (const e of inPhase('local')) {
    it(`README.md:${e.line} ${e.command}`, { timeout: 300_000 }, async () => {
      assertDocumented(e, await runToEnd(substitute(e.command, 'command')));
    });
  }

  for (const e of inPhase('server')) {
    it(`README.md:${e.line} ${e.command} (until Ctrl-C)`, { timeout: 300_000 }, async () => {
      const command = substitute(e.command, 'command');
      server = new Child(command);
      const port = portOf(command);
      await server.waitFor(() => server!.stdout.includes(`127.0.0.1:${port}`), 120_000);
      const res = await fetch(`http://127.0.0.1:${port}${PROBES.server}`);
      expect(res.status).toBe(200);
      const stopped = await server.stop();
      server = undefined;
      assertDocumented(e, stopped, true);
      await expect(fetch(`http://127.0.0.1:${port}${PROBES.server}`)).rejects.toThrow();
    });
  }

  it('Ctrl-C stops npm start', { timeout: 120_000 }, async () => {
    const stopped = await platform!.stop();
    platform = undefined;
    expect(stopped.signal === 'SIGINT' || stopped.code === 0 || stopped.code === 130, stopped.stderr).toBe(true);
    expect(existsSync(join(ctx.stateDir, 'runtime.json')), stopped.stderr).toBe(false);
    await expect(fetch(`http://127.0.0.1:${ctx.ports.get(8080)}/health`)).rejects.toThrow();
  });

  for (const e of inPhase('restart')) {
    it(`README.md:${e.line} ${e.command} (a restart, until Ctrl-C)`, { timeout: 600_000 }, async () => {
      const command = substitute(e.command, 'command');
      const child = new Child(command);
      try {
        const port = portOf(command);
        await child.waitFor(() => child.stdout.includes(`127.0.0.1:${port}`), 600_000);
        expect((await fetch(`http://127.0.0.1:${port}${PROBES.restart}`)).status).toBe(200);
      } finally {
        const stopped = await child.stop();
        assertDocumented(e, stopped, true);
      }
    });
  }

  for (const e of inPhase('after-stop')) {
    it(`README.md:${e.line} ${e.command} (after Ctrl-C)`, { timeout: 300_000 }, async () => {
      assertDocumented(e, await runToEnd(substitute(e.command, 'command')));
    });
  }

  for (const e of inPhase('cdk')) {
    it(`README.md:${e.line} ${e.command} (the CDK CLI)`, { timeout: 900_000 }, async () => {
      const r = await cdkRuns.get(e.command)!;
      // A shared run is this command with the same substitutions, in the same environment.
      if (sharedOf(e)) expect(r.command).toBe(quietSynth(e.command, / -o (\S+)$/.exec(r.command)?.[1] ?? '<no -o>'));
      assertDocumented(e, r);
      if (e.fails === undefined && /^npx cdk synth\b/.test(e.command)) {
        // Synthesis writes one nested assembly per environment it names (none named: all of them).
        const outdir = / -o (\S+)$/.exec(r.command)![1]!;
        const env = / -c env=(\S+)/.exec(e.command)?.[1];
        // The delivery app's stages are nested in its pipeline stack: staging and production.
        const expected =
          env === DELIVERY
            ? ['staging', 'production'].map((n) => `assembly-mlops-delivery-mlops-${n}`)
            : selectEnvironmentNames(env).map((n) => `assembly-mlops-${n}`);
        expect(readdirSync(outdir).filter((f) => f.startsWith('assembly-')).sort()).toEqual(expected.sort());
      }
    });
  }
});
