/** The `mlops` CLI run in this process against a state dir, so it finds the platform running there. */
import { vi } from 'vitest';
import { commandModules } from '../../lib/cli/modules';
import { buildProgram, runProgram } from '../../lib/cli/program';

/** Runs `mlops <argv> --state-dir <stateDir>` and returns its exit code and what it printed. */
export async function runMlops(stateDir: string, ...argv: string[]) {
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await runProgram(buildProgram(commandModules), [...argv, '--state-dir', stateDir]);
    const text = (m: typeof out) => m.mock.calls.map((c) => String(c[0])).join('');
    return { code, stdout: text(out), stderr: text(err) };
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = undefined;
  }
}
