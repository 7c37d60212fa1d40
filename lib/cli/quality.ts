/**
 * `mlops quality`: runs the `quality` state machine for one model on the local platform and prints
 * RMSE, MAE and R² per version for the window, with the verdict against the environment's
 * thresholds (`modelQuality` in the config).
 *
 * @example
 * npx mlops quality --model wine-quality
 * npx mlops quality --model wine-quality --start 2026-12-04T00:00:00Z --end 2026-12-05T00:00:00Z --json
 */
import type { Command } from 'commander';
import { resolveEnvironment } from '../config';
import { stateDirFrom } from '../local/layout';
import { parseQualityInput, QualityInputError, type QualityReport } from '../quality';
import { follow, formatTable, jsonOption, print, stateDirOption, withSession } from './local';
import { CliError, type CommandModule, EXIT } from './program';

/** The machine's construct id (lib/constructs/model-quality.ts): the local name contains it, lower-cased. */
const MACHINE = 'modelquality';

export const qualityCommands: CommandModule = (program: Command) => {
  program
    .command('quality')
    .description("score a served model's predictions against the labels in the lake (RMSE, MAE, R² per version)")
    .requiredOption('--model <name>', 'registered model name (e.g. wine-quality)')
    .option('--start <time>', 'window start, ISO 8601 (default: --end minus modelQuality.windowHours)')
    .option('--end <time>', 'window end, ISO 8601 (default: now)')
    .addOption(stateDirOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      '\nLabels: JSON Lines {"request_id", "label", "ts"} under s3://<raw bucket>/labels/, or Seldon feedback with a truth.\n' +
        'Examples:\n  npx mlops quality --model wine-quality\n  npx mlops quality --model wine-quality --start 2026-12-04 --json\n',
    )
    .action(async (opts: { model: string; start?: string; end?: string; stateDir?: string; json?: boolean }) => {
      const input = { model: opts.model, ...(opts.start ? { start: opts.start } : {}), ...(opts.end ? { end: opts.end } : {}) };
      // The same validation the machine's first step runs: a bad window never starts an execution.
      try {
        parseQualityInput(input, new Date(), resolveEnvironment('local').modelQuality.windowHours);
      } catch (err) {
        if (err instanceof QualityInputError) throw new CliError(err.message, EXIT.usage);
        throw err;
      }
      const { ListStateMachinesCommand, StartExecutionCommand } = await import('@aws-sdk/client-sfn');
      process.exitCode = await withSession(stateDirFrom(opts.stateDir), async (s) => {
        const { stateMachines = [] } = await s.sfn.send(new ListStateMachinesCommand({}));
        const machine = stateMachines.find((m) => m.name?.toLowerCase().includes(MACHINE));
        if (machine === undefined) throw new CliError('the local stage has no quality state machine', EXIT.unavailable);
        const started = await s.sfn.send(
          new StartExecutionCommand({ stateMachineArn: machine.stateMachineArn, input: JSON.stringify(input) }),
        );
        const result = await follow(s, started.executionArn!);
        if (result.status !== 'SUCCEEDED') {
          const cause = causeMessage(result.cause);
          if (result.error === 'QualityInputError') throw new CliError(cause, EXIT.usage);
          throw new CliError(`the quality check ${result.status?.toLowerCase()}: ${result.error ?? ''} ${cause}`.trim(), EXIT.failed);
        }
        const report = (JSON.parse(result.output ?? '{}') as { quality: QualityReport & { events: number } }).quality;
        print(opts.json, report, renderReport(report));
        return EXIT.ok;
      });
    });
};

/** A Lambda error's cause is `{"errorMessage": …}`; the message is what the user needs. */
function causeMessage(cause: string | undefined): string {
  if (cause === undefined) return '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    return parsed.errorMessage ?? cause;
  } catch {
    return cause;
  }
}

const num = (v: number | null) => (v === null ? '–' : Number(v.toPrecision(4)).toString());

export function renderReport(r: QualityReport & { events?: number }): string {
  const head = `${r.model}  ${r.windowStart} → ${r.windowEnd}  ${r.status}`;
  if (r.versions.length === 0) return `${head}\n${r.message}`;
  const table = formatTable(
    ['version', 'labeled', 'RMSE', 'MAE', 'R2', 'status'],
    r.versions.map((v) => [v.version === '*' ? 'all' : v.version, String(v.labeled), num(v.rmse), num(v.mae), num(v.r2), v.status]),
  );
  const events = r.events ? `\n${r.events} ModelQualityBelowThreshold event(s) put on the platform bus` : '';
  return `${head}\n${table}\n${r.message}${events}`;
}
