/**
 * `mlops drift`: runs the `drift` state machine on the local platform (the definition the stacks
 * deploy), follows it, and prints the per-feature verdicts and where the reports are — the local
 * paths of the HTML and JSON reports under the state dir, so the HTML opens in a browser.
 *
 * @example
 *   npx mlops drift --model wine-quality
 *   npx mlops drift --model wine-quality --version 2 --start 2026-12-01 --end 2026-12-02 --json
 */
import { readFileSync } from 'node:fs';
import type { DriftReport } from '../drift';
import { stateDirFrom } from '../local/layout';
import type { DriftOutcome } from '../pipelines/drift-run';
import { follow, jsonOption, print, stateDirOption, withSession } from './local';
import { CliError, type CommandModule, EXIT } from './program';

/** What `mlops drift --json` prints. */
export interface DriftCommandResult {
  readonly executionArn: string;
  readonly status: string;
  readonly outcome?: Omit<DriftOutcome, 'metrics'>;
  readonly report?: { readonly html: string; readonly json: string };
  readonly error?: string;
  readonly cause?: string;
}

export const driftCommands: CommandModule = (program) => {
  program
    .command('drift')
    .description("compare a window of a model's request log with its training baseline (the drift machine)")
    .requiredOption('--model <name>', 'the registered model (served as the deployment of that name)')
    .option('--version <n>', 'the version whose baseline is the reference (default: the champion)')
    .option('--stage <stage>', 'or the latest version in this stage (Production, Staging)')
    .option('--start <time>', 'window start, ISO 8601 (default: a day before --end)')
    .option('--end <time>', 'window end, ISO 8601 (default: now)')
    .addOption(stateDirOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `\nExamples:\n  npx mlops drift --model wine-quality\n  npx mlops drift --model wine-quality --version 1 --start 2026-12-01 --end 2026-12-02 --json\n`,
    )
    .action(async (opts) => {
      const stateDir = stateDirFrom(opts.stateDir);
      const input = {
        model: opts.model as string,
        ...(opts.version !== undefined ? { version: opts.version as string } : {}),
        ...(opts.stage !== undefined ? { stage: opts.stage as string } : {}),
        ...(opts.start !== undefined ? { start: opts.start as string } : {}),
        ...(opts.end !== undefined ? { end: opts.end as string } : {}),
      };
      // Loaded when the command runs (see lib/cli/local.ts).
      const [{ StartExecutionCommand }, { readAssembly }, { localPathOf }, { readFacts }, { assemblyDirOf }, { formatDriftTable }] = await Promise.all([
        import('@aws-sdk/client-sfn'),
        import('../local/assembly'),
        import('../local/athena/catalog'),
        import('../local/facts'),
        import('../local/synth'),
        import('../drift'),
      ]);
      process.exitCode = await withSession(stateDir, async (s) => {
        // By the role the stacks declare, not by name: another machine may have "drift" in its name.
        const arn = readFacts(readAssembly(assemblyDirOf(stateDir), { stage: s.info.stage })).stateMachine('drift').arn;
        const started = await s.sfn.send(new StartExecutionCommand({ stateMachineArn: arn, input: JSON.stringify(input) }));
        const done = await follow(s, started.executionArn!, opts.json ? undefined : process.stderr);
        if (done.status !== 'SUCCEEDED') {
          const result: DriftCommandResult = {
            executionArn: started.executionArn!,
            status: done.status ?? 'UNKNOWN',
            ...(done.error ? { error: done.error } : {}),
            ...(done.cause ? { cause: done.cause } : {}),
          };
          if (opts.json) {
            print(true, result, '');
            return EXIT.failed;
          }
          throw new CliError(`drift ${done.status?.toLowerCase()}: ${done.error ?? ''}${done.cause ? `: ${causeMessage(done.cause)}` : ''}`, EXIT.failed);
        }
        const output = JSON.parse(done.output ?? '{}') as { report?: Omit<DriftOutcome, 'metrics'> };
        const outcome = output.report;
        if (!outcome) throw new CliError(`the drift execution ${started.executionArn} ended without a report`, EXIT.failed);
        const report = { html: localPathOf(stateDir, outcome.html_report_uri), json: localPathOf(stateDir, outcome.report_uri) };
        const result: DriftCommandResult = { executionArn: started.executionArn!, status: done.status, outcome, report };
        print(opts.json, result, textOf(outcome, report, formatDriftTable));
        return EXIT.ok;
      });
    });
};

/** A Lambda error's cause is `{"errorType","errorMessage",…}`: the message is the sentence. */
function causeMessage(cause: string): string {
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    return parsed.errorMessage ?? cause;
  } catch {
    return cause;
  }
}

function textOf(
  outcome: Omit<DriftOutcome, 'metrics'>,
  paths: { html: string; json: string },
  formatDriftTable: (report: DriftReport) => string,
): string {
  const report = JSON.parse(readFileSync(paths.json, 'utf8')) as DriftReport;
  return [
    // The table opens with the model, version, window and rows, and closes with the verdict.
    outcome.status === 'no-traffic'
      ? `${outcome.model} version ${outcome.version}: ${outcome.summary}`
      : formatDriftTable(report),
    '',
    `report: ${paths.html}`,
    `        ${paths.json}`,
  ].join('\n');
}
