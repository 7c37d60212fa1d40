/**
 * `mlops serve`, run as the CLI runs it (commander program, exit codes), in a child process so
 * its signal handling is real.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { S3Store, startS3Server } from '../../lib/local/s3';
import { packModelDir } from '../../lib/model/archive';
import { call, expected, TINY, WINE, writeModelDir } from './helpers';

const root = fileURLToPath(new URL('../../', import.meta.url));
// The program with only this module registered (lib/cli/modules.ts is wired by the lead).
const PROGRAM = `
import { buildProgram, runProgram } from './lib/cli/program';
import { serveCommands } from './lib/cli/serve';
process.exitCode = await runProgram(buildProgram([serveCommands]), process.argv.slice(1));
`;

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

function mlops(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', PROGRAM, '--', ...args],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    },
  );
  children.push(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => out, exit };
}

async function waitFor(
  output: () => string,
  pattern: RegExp,
  exit: Promise<unknown>,
): Promise<RegExpExecArray> {
  let exited = false;
  void exit.then(() => {
    exited = true;
  });
  for (let i = 0; i < 300; i++) {
    const m = pattern.exec(output());
    if (m) return m;
    if (exited) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${pattern} in: ${output()}`);
}

describe('mlops serve', () => {
  it('serves a model directory and exits 0 on SIGINT', async () => {
    const dir = await writeModelDir(TINY);
    const { child, output, exit } = mlops([
      'serve',
      '--model-dir',
      dir,
      '--port',
      '0',
      '--model-name',
      'tiny',
    ]);
    const [, url] = await waitFor(output, /serving tiny on (http:\/\/\S+)/, exit);
    const r = await call(
      url!,
      'POST',
      '/v2/models/tiny/infer',
      { inputs: [{ name: 'input-0', shape: [1, 2], datatype: 'FP64', data: [1, 1] }] },
      {},
      { agent: false },
    );
    expect(r.json.outputs[0].data).toEqual([expected(TINY, [1, 1])]);
    child.kill('SIGINT');
    expect(await exit, output()).toBe(0);
  });

  it('exits 1 for a model it cannot load, 2 for a bad option, 3 for a port in use', async () => {
    const missing = mlops(['serve', '--model-dir', '/nonexistent/model']);
    expect(await missing.exit).toBe(1);
    expect(missing.output()).toMatch(/mlops: cannot read \/nonexistent\/model/);

    const badPort = mlops(['serve', '--model-dir', '/tmp', '--port', 'http']);
    expect(await badPort.exit).toBe(2);
    expect(badPort.output()).toMatch(/--port must be an integer/);

    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      const port = (taken.address() as { port: number }).port;
      const dir = await writeModelDir(TINY);
      const busy = mlops(['serve', '--model-dir', dir, '--port', String(port)]);
      expect(await busy.exit).toBe(3);
      expect(busy.output()).toMatch(/cannot listen on 127\.0\.0\.1:\d+/);
    } finally {
      taken.close();
    }
  });
});

describe('mlops serve holds an S3 artifact to its registered digest and object version', () => {
  const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

  it('serves the pinned version whose digest matches, and refuses a tampered artifact with exit 1', async () => {
    // prepare: the real local S3 engine, a registered artifact, then the same key overwritten
    const stateDir = await mkdtemp(join(tmpdir(), 'mlops-serve-digest-'));
    const s3server = await startS3Server({ store: await S3Store.open(stateDir, ['artifacts']) });
    const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
    const s3 = new S3Client({ endpoint: s3server.endpoint, region: 'eu-west-1', credentials, forcePathStyle: true });
    const env = {
      AWS_ENDPOINT_URL_S3: s3server.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    };
    try {
      const key = 'models/tiny/run-1/job/output/model.tar.gz';
      const uri = `s3://artifacts/${key}`;
      const registered = await packModelDir(await writeModelDir(TINY));
      const put = await s3.send(new PutObjectCommand({ Bucket: 'artifacts', Key: key, Body: registered }));
      const tampered = await packModelDir(await writeModelDir(WINE));
      await s3.send(new PutObjectCommand({ Bucket: 'artifacts', Key: key, Body: tampered }));

      // act: the registered version pinned by id and digest; the current object (the swap) against
      // the registered digest; a version id the object never had; a digest that is not one
      const swapped = mlops(['serve', '--model-dir', uri, '--port', '0', '--sha256', sha256(registered)], env);
      const unknown = mlops(['serve', '--model-dir', uri, '--port', '0', '--version-id', 'no-such-version'], env);
      const bad = mlops(['serve', '--model-dir', uri, '--sha256', 'abc'], env);
      const good = mlops(
        ['serve', '--model-dir', uri, '--port', '0', '--model-name', 'tiny', '--sha256', sha256(registered), '--version-id', put.VersionId!],
        env,
      );
      const [, url] = await waitFor(good.output, /serving tiny on (http:\/\/\S+)/, good.exit);
      const r = await call(url!, 'POST', '/v2/models/tiny/infer',
        { inputs: [{ name: 'input-0', shape: [1, 2], datatype: 'FP64', data: [1, 1] }] }, {}, { agent: false });
      expect(r.json.outputs[0].data).toEqual([expected(TINY, [1, 1])]);
      good.child.kill('SIGINT');
      expect(await good.exit, good.output()).toBe(0);

      // assess: only the pinned, matching artifact is served
      expect(await swapped.exit, swapped.output()).toBe(1);
      expect(swapped.output()).toContain(
        `mlops: ${uri} has SHA-256 ${sha256(tampered)}, but the registry recorded ${sha256(registered)} (mlops.artifact_sha256)`,
      );

      expect(await unknown.exit, unknown.output()).toBe(1);
      expect(unknown.output()).toMatch(/mlops: (cannot read .*no-such-version|s3:\/\/artifacts\/.* has no version no-such-version)/);

      expect(await bad.exit).toBe(1);
      expect(bad.output()).toContain('the expected SHA-256 must be 64 lowercase hex digits, but "abc" was provided');
    } finally {
      s3.destroy();
      await s3server.close();
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
