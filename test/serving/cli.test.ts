/**
 * `mlops serve`, run as the CLI runs it (commander program, exit codes), in a child process so
 * its signal handling is real.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { call, expected, TINY, writeModelDir } from './helpers';

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

function mlops(args: string[]): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', PROGRAM, '--', ...args],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
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
