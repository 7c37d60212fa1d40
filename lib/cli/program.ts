/**
 * The `mlops` command line: one commander program; each area registers its commands from its own
 * module under `lib/cli/`, so a command lives next to the code it drives.
 *
 * Exit codes scripts can rely on: 0 success, 1 the work failed (a failed execution, a failed
 * training job), 2 the command was used wrongly (unknown option, malformed input), 3 the local
 * platform is not in a state to do it (nothing synthesized, port taken).
 */
import { Command, CommanderError } from 'commander';

export const EXIT = { ok: 0, failed: 1, usage: 2, unavailable: 3 } as const;

/** An error whose message is for the user, with the exit code it maps to. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
  }
}

/** A module that adds its commands to the program. */
export type CommandModule = (program: Command) => void;

export function buildProgram(modules: readonly CommandModule[]): Command {
  const program = new Command('mlops')
    .description('mlops-kit: run the MLOps platform locally, train, predict and serve models')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of modules) register(program);
  return program;
}

/** Runs the program and turns errors into the documented exit codes. */
export async function runProgram(program: Command, argv: readonly string[]): Promise<number> {
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version arrive here as "errors" with exit code 0.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof CliError) {
      process.stderr.write(`mlops: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`mlops: ${(err as Error).stack ?? String(err)}\n`);
    return EXIT.failed;
  }
}
