/**
 * `mlops release|approve|reject` refusing what cannot work, before any execution starts: the
 * usage errors exit 2 with the flag named, an environment that does not answer exits 3.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { commandModules } from '../../lib/cli/modules';
import { buildProgram, runProgram } from '../../lib/cli/program';
import { runMlops } from '../local/mlops-cli';

/** `mlops <argv>` in this process (release takes no --state-dir). */
async function mlops(...argv: string[]) {
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    const code = await runProgram(buildProgram(commandModules), argv);
    return { code, stderr: err.mock.calls.map((c) => String(c[0])).join('') };
  } finally {
    err.mockRestore();
    out.mockRestore();
    process.exitCode = undefined;
  }
}

const stateDir = mkdtempSync(join(tmpdir(), 'mlops-release-cli-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('mlops release, approve, reject: usage', () => {
  it('fails if the version is not a version number', async () => {
    const r = await mlops('release', '--model', 'm', '--version', 'latest', '--from', 'staging', '--to', 'production');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--version must be a version number such as 1, but latest was provided/);
  });

  it('fails if an environment is neither a known name nor a URL', async () => {
    const r = await mlops('release', '--model', 'm', '--version', '1', '--from', 'qa', '--to', 'production');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/an environment must be one of local, staging, production or a URL, but qa was provided/);
  });

  it('fails with exit 3 if a local platform does not answer at the URL', async () => {
    const port = await closedPort();
    const r = await mlops('release', '--model', 'm', '--version', '1', '--from', `http://127.0.0.1:${port}`, '--to', 'local');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`no local platform answers at http://127\\.0\\.0\\.1:${port}`));
  });

  it('fails with exit 3 if approve or reject has no platform to answer in', async () => {
    for (const decision of ['approve', 'reject']) {
      const r = await runMlops(stateDir, decision, 'wine-quality-v1-abc');
      expect(r.code, decision).toBe(3);
      expect(r.stderr).toMatch(/no local platform is running on .*: pass --to <url>/);
    }
  });
});
