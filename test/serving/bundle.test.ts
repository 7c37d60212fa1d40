/**
 * The container entry point as the image runs it: bundled by lib/serving/bundle.ts (what the
 * Dockerfile's build stage runs), started as a separate process configured only by environment
 * variables, answering a prediction, and exiting 0 on SIGTERM after draining.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleServer, SERVER_NODE_OPTIONS } from '../../lib/serving/bundle';
import { MODEL_SERVER_UID } from '../../lib/serving-infra/seldon';
import { call, expected, TINY, writeModelDir } from './helpers';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function start(
  bundle: string,
  env: Record<string, string>,
): { child: ChildProcess; output: () => string; listening: Promise<string> } {
  const child = spawn(process.execPath, [...SERVER_NODE_OPTIONS, bundle], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.stderr!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
  // Awaited only by callers that expect the server to come up.
  listening.catch(() => {});
  return { child, output: () => out, listening };
}

describe('bundled entry point', () => {
  it('the Dockerfile bundles with lib/serving/bundle.ts and runs the bundle', () => {
    const dockerfile = readFileSync(new URL('../../lib/serving/Dockerfile', import.meta.url), 'utf8');
    expect(dockerfile).toMatch(/^RUN npx tsx lib\/serving\/bundle\.ts \/out\/server\.mjs$/m);
    expect(dockerfile).toMatch(/^COPY --from=build .*\/out\/server\.mjs \.\/server\.mjs$/m);
    // The image runs node with the options the benchmark measures.
    expect(dockerfile).toMatch(/^ENTRYPOINT \[.*\]$/m);
    expect(JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)![1]!)).toEqual([
      '/nodejs/bin/node',
      ...SERVER_NODE_OPTIONS,
      '/app/server.mjs',
    ]);
    expect(dockerfile).toMatch(new RegExp(`^USER ${MODEL_SERVER_UID}:${MODEL_SERVER_UID}$`, 'm'));
    expect(dockerfile).toMatch(/^EXPOSE 9000$/m);
    expect(dockerfile).not.toMatch(/^HEALTHCHECK/m);
  });

  it('serves from MODEL_URI, answers a prediction, and exits 0 on SIGTERM', async () => {
    const work = await mkdtemp(join(tmpdir(), 'mlops-bundle-'));
    dirs.push(work);
    const bundle = join(work, 'server.mjs');
    await bundleServer(bundle);
    // Self-contained: no import of a package outside the bundle (only node: built-ins).
    const code = await readFile(bundle, 'utf8');
    expect(code.match(/from\s*"(?!node:)[^"]+"/g) ?? []).toEqual([]);

    const modelDir = await writeModelDir(TINY);
    dirs.push(modelDir);
    const { child, output, listening } = start(bundle, {
      MODEL_URI: modelDir,
      MODEL_NAME: 'tiny',
      MODEL_VERSION: '7',
      PORT: '0',
      HOST: '127.0.0.1',
    });
    const url = await listening;
    const seldon = await call(
      url,
      'POST',
      '/api/v1.0/predictions',
      { data: { ndarray: [[2, 3]] } },
      {},
      { agent: false },
    );
    expect(seldon.json).toEqual({ data: { names: [], ndarray: [expected(TINY, [2, 3])] }, meta: {} });
    const oip = await call(
      url,
      'POST',
      '/v2/models/tiny/versions/7/infer',
      { inputs: [{ name: 'input-0', shape: [1, 2], datatype: 'FP32', data: [2, 3] }] },
      {},
      { agent: false },
    );
    expect(oip.json.model_version).toBe('7');
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    child.kill('SIGTERM');
    expect(await exited, output()).toBe(0);
  });

  it('exits 1 with one line naming the problem when MODEL_URI is missing or unreadable', async () => {
    const work = await mkdtemp(join(tmpdir(), 'mlops-bundle-'));
    dirs.push(work);
    const bundle = join(work, 'server.mjs');
    await bundleServer(bundle);
    for (const [env, message] of [
      [{}, /MODEL_URI must be set/],
      [{ MODEL_URI: '/nonexistent/model' }, /cannot read \/nonexistent\/model/],
      [{ MODEL_URI: '/tmp', PORT: 'http' }, /PORT is invalid/],
    ] as const) {
      const { child, output } = start(bundle, env as Record<string, string>);
      const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      expect(code).toBe(1);
      expect(output()).toMatch(message);
    }
  });
});
