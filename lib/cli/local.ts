/**
 * The local environment's commands: `up`, `run`, `executions`, `describe`, `invoke`, `query`,
 * `reset`. Each talks to the platform through the AWS SDK against the local endpoints (see
 * `lib/local/session.ts`), so what works here works the same against the running `mlops up`.
 * A command imports the platform, the SDK and the engines when it runs (`import()` in its action),
 * so `--help` and the other commands' starts do not load them.
 *
 * @example
 *   npx mlops up                                  # = npm start
 *   npx mlops run training --input @input.json
 *   npx mlops query "SELECT count(*) FROM mlops_local.winequality_red_raw"
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import type { DescribeExecutionCommandOutput, HistoryEvent } from '@aws-sdk/client-sfn';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { resolveEnvironment } from '../config';
import { layout, stateDirFrom } from '../local/layout';
import { lockHolder } from '../local/lock';
import { readRuntimeInfo } from '../local/runtime-info';
import type { Session } from '../local/session';
import { CliError, type CommandModule, EXIT } from './program';

export const stateDirOption = () =>
  new Option('--state-dir <dir>', 'where the local platform keeps its state (also MLOPS_STATE_DIR)').default(
    undefined,
    '.mlops/local',
  );
export const jsonOption = () => new Option('--json', 'print machine-readable JSON instead of text');

export const localCommands: CommandModule = (program) => {
  program
    .command('up')
    .description('bring up the local platform from the synthesized local stage and keep serving (npm start)')
    .addOption(
      new Option('--port <port>', 'the gateway port on 127.0.0.1; the other endpoints follow it (0: all random)')
        .default(8080)
        .argParser(parsePort),
    )
    .addOption(new Option('--aws-port <port>', 'the AWS endpoint: Step Functions, Athena, … (default: port + 1)').argParser(parsePort))
    .addOption(new Option('--s3-port <port>', 'the S3 endpoint (default: port + 2)').argParser(parsePort))
    .addOption(new Option('--dynamodb-port <port>', 'the DynamoDB endpoint (default: port + 3)').argParser(parsePort))
    .addOption(stateDirOption())
    .option('--retrain', 'run the training pipeline even if a model is already registered')
    .option('--no-startup', 'start the engines only; skip the start-up pipelines')
    .option('--synth', 'synthesize the local stage even if an assembly of the same sources exists (state dir or cache)')
    .option('--verbose', 'also print function, training and bundler output (always in <state dir>/logs/platform.log)')
    .addOption(
      new Option('--request-log-sample-rate <0..1>', "fraction of predictions written to the request log (default: the local config's 0.1; 1 for a drift demo)").argParser(
        parseSampleRate,
      ),
    )
    .option(
      '--reset-registry',
      'start from empty DynamoDB tables (registry, online store) if their store is missing or damaged; the lake is kept',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  npx mlops up --port 8080                 # AWS 8081, S3 8082, DynamoDB 8083\n' +
        '  npx mlops up --port 9000 --s3-port 4569\n' +
        '  npx mlops up --port 9080 --state-dir .mlops/prod --no-startup   # a second platform beside the default (8080-8083)\n',
    )
    .action(async (opts) => {
      const { runUp } = await import('./up');
      process.exitCode = await runUp({
        port: opts.port,
        awsPort: opts.awsPort,
        s3Port: opts.s3Port,
        dynamodbPort: opts.dynamodbPort,
        verbose: Boolean(opts.verbose),
        stateDir: stateDirFrom(opts.stateDir),
        retrain: Boolean(opts.retrain),
        startup: opts.startup !== false,
        synth: Boolean(opts.synth),
        resetRegistry: Boolean(opts.resetRegistry),
        ...(opts.requestLogSampleRate === undefined ? {} : { requestLogSampleRate: opts.requestLogSampleRate as number }),
      });
    });

  program
    .command('run')
    .description('start an execution of a state machine and follow it to the end')
    .argument('<state-machine>', 'name, part of a name, or ARN (e.g. training)')
    .option('--input <json|@file>', 'execution input as JSON, or @path to a JSON file', '{}')
    .option('--name <name>', 'execution name (default: generated)')
    .option('--no-follow', 'print the execution ARN and return without waiting')
    .addOption(stateDirOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `\nExamples:\n  npx mlops run training --input '{"dataset":"winequality_red_raw","target":"quality"}'\n` +
        `  npx mlops run training --input '{"feature_service":"wine_quality_v1","labels":"wine_labels","target":"quality"}'\n`,
    )
    .action(async (machine: string, opts) => {
      const input = readJsonArg(opts.input, '--input');
      const { StartExecutionCommand } = await import('@aws-sdk/client-sfn');
      process.exitCode = await withSession(stateDirFrom(opts.stateDir), async (s) => {
        const arn = await findMachine(s, machine);
        const started = await s.sfn.send(
          new StartExecutionCommand({ stateMachineArn: arn, input: JSON.stringify(input), name: opts.name }),
        );
        if (!opts.follow) {
          print(opts.json, { executionArn: started.executionArn }, `${started.executionArn}`);
          return EXIT.ok;
        }
        const result = await follow(s, started.executionArn!, opts.json ? undefined : process.stderr);
        print(opts.json, executionJson(result), summarize(result));
        return result.status === 'SUCCEEDED' ? EXIT.ok : EXIT.failed;
      });
    });

  program
    .command('executions')
    .description('list executions, newest first')
    .option('--state-machine <name>', 'only this state machine')
    .addOption(stateDirOption())
    .addOption(jsonOption())
    .action(async (opts) => {
      const { ListExecutionsCommand } = await import('@aws-sdk/client-sfn');
      await withSession(stateDirFrom(opts.stateDir), async (s) => {
        const stateMachineArn = opts.stateMachine ? await findMachine(s, opts.stateMachine) : undefined;
        const { executions = [] } = await s.sfn.send(new ListExecutionsCommand({ stateMachineArn }));
        const rows = executions.map((e) => ({
          name: e.name,
          status: e.status,
          stateMachine: e.stateMachineArn?.split(':').at(-1),
          startDate: e.startDate?.toISOString(),
          stopDate: e.stopDate?.toISOString(),
          executionArn: e.executionArn,
        }));
        const text =
          rows.length === 0
            ? 'no executions yet'
            : rows
                .map((r) => `${r.status?.padEnd(9)} ${r.startDate}  ${r.stateMachine}  ${r.name}`)
                .join('\n');
        print(opts.json, rows, text);
      });
    });

  program
    .command('describe')
    .description('show an execution: status, input, output, error and its history')
    .argument('<execution>', 'execution ARN or name')
    .addOption(stateDirOption())
    .addOption(jsonOption())
    .action(async (execution: string, opts) => {
      const { DescribeExecutionCommand, GetExecutionHistoryCommand } = await import('@aws-sdk/client-sfn');
      process.exitCode = await withSession(stateDirFrom(opts.stateDir), async (s) => {
        const arn = await findExecution(s, execution);
        const d = await s.sfn.send(new DescribeExecutionCommand({ executionArn: arn }));
        const { events = [] } = await s.sfn.send(new GetExecutionHistoryCommand({ executionArn: arn }));
        const text = [
          summarize(d),
          `input:  ${d.input}`,
          d.output !== undefined ? `output: ${d.output}` : undefined,
          '',
          ...events.map(formatEvent).filter(Boolean),
        ]
          .filter((l) => l !== undefined)
          .join('\n');
        print(opts.json, { ...executionJson(d), events }, text);
        return EXIT.ok;
      });
    });

  program
    .command('invoke')
    .description('invoke a Lambda function of the local platform with a payload')
    .argument('<function>', 'function name or part of it (e.g. registry)')
    .option('--payload <json|@file>', 'the event, as JSON or @path', '{}')
    .addOption(stateDirOption())
    .addOption(jsonOption())
    .action(async (fn: string, opts) => {
      const payload = readJsonArg(opts.payload, '--payload');
      process.exitCode = await withSession(stateDirFrom(opts.stateDir), async (s) => {
        const result = await s.invoke(await findFunction(s, fn), payload).catch((err) => {
          throw new CliError((err as Error).message, EXIT.usage);
        });
        print(opts.json, result, JSON.stringify(result.payload, null, 2));
        return result.functionError ? EXIT.failed : EXIT.ok;
      });
    });

  program
    .command('query')
    .description('run SQL through the local Athena path (DuckDB over the lake, Glue tables as views)')
    .argument('<sql>', 'the query')
    .option('--database <name>', 'default database', resolveEnvironment('local').dataLake.glueDatabaseName)
    .option('--work-group <name>', 'Athena workgroup', `mlops-${resolveEnvironment('local').name}`)
    .addOption(stateDirOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      '\nExample:\n  npx mlops query "SELECT quality, count(*) FROM winequality_red_raw GROUP BY 1"\n',
    )
    .action(async (sql: string, opts) => {
      if (sql.trim() === '') throw new CliError('the query is empty', EXIT.usage);
      const { GetQueryExecutionCommand, GetQueryResultsCommand, StartQueryExecutionCommand } = await import('@aws-sdk/client-athena');
      process.exitCode = await withSession(stateDirFrom(opts.stateDir), async (s) => {
        const workGroup: string = opts.workGroup;
        const started = await s.athena
          .send(
            new StartQueryExecutionCommand({
              QueryString: sql,
              WorkGroup: workGroup,
              QueryExecutionContext: { Database: opts.database },
            }),
          )
          .catch((err: Error) => {
            // The engine rejects some queries up front (unknown workgroup, scan cutoff): same exit as a failed query.
            throw new CliError(`query failed: ${err.message}`, EXIT.failed);
          });
        const QueryExecutionId = started.QueryExecutionId;
        for (;;) {
          const q = await s.athena.send(new GetQueryExecutionCommand({ QueryExecutionId }));
          const state = q.QueryExecution?.Status?.State;
          if (state === 'FAILED' || state === 'CANCELLED') {
            throw new CliError(
              `query ${state.toLowerCase()}: ${q.QueryExecution?.Status?.StateChangeReason}`,
              EXIT.failed,
            );
          }
          if (state === 'SUCCEEDED') break;
          await new Promise((r) => setTimeout(r, 50));
        }
        const rows: string[][] = [];
        let token: string | undefined;
        do {
          const page = await s.athena.send(
            new GetQueryResultsCommand({ QueryExecutionId, NextToken: token }),
          );
          for (const row of page.ResultSet?.Rows ?? [])
            rows.push((row.Data ?? []).map((d) => d.VarCharValue ?? ''));
          token = page.NextToken;
        } while (token);
        const [header = [], ...data] = rows;
        print(
          opts.json,
          data.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]]))),
          formatTable(header, data),
        );
        return EXIT.ok;
      });
    });

  program
    .command('reset')
    .description('delete the local platform state (lake, tables, executions); refuses while `mlops up` runs')
    .addOption(stateDirOption())
    .action((opts) => {
      const stateDir = stateDirFrom(opts.stateDir);
      const running = readRuntimeInfo(stateDir);
      if (running) {
        throw new CliError(
          `the local platform is running (pid ${running.pid}); stop it with Ctrl-C first`,
          EXIT.unavailable,
        );
      }
      const holder = lockHolder(stateDir);
      if (holder) {
        throw new CliError(
          `the state dir is in use by ${holder.command} (pid ${holder.pid}); stop it first`,
          EXIT.unavailable,
        );
      }
      if (!existsSync(stateDir)) {
        process.stdout.write(`nothing to reset: ${stateDir} does not exist\n`);
        return;
      }
      rmSync(layout(stateDir).root, { recursive: true, force: true });
      process.stdout.write(`reset: removed ${stateDir}\n`);
    });
};

/**
 * {@link openSession} with the platform's faults as one sentence and exit 3: a platform that stops
 * answering mid-command (killed, stopped), one still starting, or local state that cannot be opened.
 */
export async function withSession<T>(stateDir: string, fn: (session: Session) => Promise<T>): Promise<T> {
  const { withSession: openSession } = await import('../local/session');
  try {
    return await openSession(stateDir, fn);
  } catch (err) {
    if (err instanceof CliError) throw err;
    const refused = connectionFailure(err);
    if (refused) {
      throw new CliError(
        `the local platform stopped answering (${refused}): it was stopped or killed; start it again with \`npx mlops up\``,
        EXIT.unavailable,
      );
    }
    const { startFailure } = await import('../local/preflight');
    const sentence = startFailure(err);
    if (sentence) throw new CliError(sentence, EXIT.unavailable);
    // The platform's own fault (a full disk, an I/O error), answered as AWS answers one: a 5xx.
    if ((err as { $fault?: string }).$fault === 'server') {
      throw new CliError(`the local platform could not do it: ${(err as Error).message}`, EXIT.unavailable);
    }
    throw err;
  }
}

/** `connect ECONNREFUSED 127.0.0.1:…` and the like, from an SDK error or fetch's `cause` chain. */
export function connectionFailure(err: unknown): string | undefined {
  for (let e = err as (Error & { code?: string; cause?: unknown }) | undefined, i = 0; e && i < 5; i++) {
    if (e.code && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ECONNABORTED'].includes(e.code)) {
      return e.message || e.code;
    }
    e = e.cause as typeof e;
  }
  return undefined;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('must be a port number (0-65535)');
  return n;
}

function parseSampleRate(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n <= 1)) throw new InvalidArgumentError('must be a number from 0 to 1');
  return n;
}

/** A JSON argument given inline or as @file; malformed input is a usage error that names the flag. */
export function readJsonArg(value: string, flag: string): unknown {
  let text = value;
  if (value.startsWith('@')) {
    try {
      text = readFileSync(value.slice(1), 'utf8');
    } catch (err) {
      throw new CliError(`${flag}: cannot read ${value.slice(1)}: ${(err as Error).message}`, EXIT.usage);
    }
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`${flag} must be JSON: ${(err as Error).message}`, EXIT.usage);
  }
}

/**
 * Of several names that contain the query, the ones whose own part (after the stack's
 * `mlops-<env>-<stack>-` prefix) contains it: `registry` is the Registry stack's registry
 * function, not every function of that stack.
 */
function byOwnName<T>(found: T[], query: string, nameOf: (t: T) => string): T[] {
  if (found.length < 2) return found;
  const own = found.filter((t) => (nameOf(t).split('-').at(-1) ?? '').toLowerCase().includes(query.toLowerCase()));
  return own.length === 0 ? found : own;
}

async function findMachine(s: Session, query: string): Promise<string> {
  const { ListStateMachinesCommand } = await import('@aws-sdk/client-sfn');
  const { stateMachines = [] } = await s.sfn.send(new ListStateMachinesCommand({}));
  const exact = stateMachines.find((m) => m.stateMachineArn === query || m.name === query);
  if (exact) return exact.stateMachineArn!;
  const found = byOwnName(stateMachines.filter((m) => m.name?.toLowerCase().includes(query.toLowerCase())), query, (m) => m.name!);
  if (found.length === 1) return found[0]!.stateMachineArn!;
  const names = stateMachines.map((m) => m.name).join(', ') || 'none';
  throw new CliError(
    found.length === 0
      ? `no state machine matches '${query}' (the local stage has: ${names})`
      : `'${query}' matches several state machines: ${found.map((m) => m.name).join(', ')}`,
    EXIT.usage,
  );
}

async function findFunction(s: Session, query: string): Promise<string> {
  const names = await s.listFunctions();
  if (names.includes(query)) return query;
  const found = byOwnName(names.filter((n) => n.toLowerCase().includes(query.toLowerCase())), query, (n) => n);
  if (found.length === 1) return found[0]!;
  throw new CliError(
    found.length === 0
      ? `Function not found: no function matches '${query}' (the local stage has: ${names.join(', ') || 'none'})`
      : `'${query}' matches several functions: ${found.join(', ')}`,
    EXIT.usage,
  );
}

async function findExecution(s: Session, query: string): Promise<string> {
  if (query.startsWith('arn:')) return query;
  const { ListExecutionsCommand } = await import('@aws-sdk/client-sfn');
  const { executions = [] } = await s.sfn.send(new ListExecutionsCommand({}));
  const found = executions.filter((e) => e.name === query);
  if (found.length === 1) return found[0]!.executionArn!;
  throw new CliError(
    found.length === 0
      ? `no execution named '${query}'`
      : `several executions are named '${query}': pass the ARN`,
    EXIT.usage,
  );
}

/**
 * Prints each state as it starts and ends, with elapsed time, until the execution stops (or, with
 * `stopWhen`, until an event it accepts: `mlops release` stops at the approval step).
 */
export async function follow(
  s: Pick<Session, 'sfn'>,
  executionArn: string,
  out?: NodeJS.WritableStream,
  stopWhen?: (event: HistoryEvent) => boolean,
): Promise<DescribeExecutionCommandOutput> {
  const { DescribeExecutionCommand, GetExecutionHistoryCommand } = await import('@aws-sdk/client-sfn');
  let stop = false;
  const seen = new Set<number>();
  const entered = new Map<string, number>();
  const started = Date.now();
  const drain = async () => {
    const { events = [] } = await s.sfn.send(
      new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }),
    );
    for (const e of events) {
      if (seen.has(e.id!)) continue;
      seen.add(e.id!);
      if (stopWhen?.(e)) stop = true;
      if (!out) continue;
      const name = e.stateEnteredEventDetails?.name ?? e.stateExitedEventDetails?.name;
      const t = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
      if (e.type?.endsWith('StateEntered') && name) {
        entered.set(name, e.timestamp?.getTime() ?? Date.now());
        out.write(`${t}s  ▶ ${name}\n`);
      } else if (e.type?.endsWith('StateExited') && name) {
        const took = ((e.timestamp?.getTime() ?? Date.now()) - (entered.get(name) ?? Date.now())) / 1000;
        out.write(`${t}s  ✓ ${name} (${took.toFixed(2)} s)\n`);
      } else if (e.type?.endsWith('Failed') || e.type?.endsWith('TimedOut')) {
        const d = failureDetails(e);
        out.write(`${t}s  ✗ ${e.type}${d ? `: ${d}` : ''}\n`);
      }
    }
  };
  for (;;) {
    await drain();
    const d = await s.sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (stop) return d;
    if (d.status !== 'RUNNING' && d.status !== 'PENDING_REDRIVE') {
      // The execution may have ended after the history above was read: print its last events too.
      await drain();
      return d;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}

export function failureDetails(e: HistoryEvent): string {
  const details = Object.entries(e).find(([k]) => k.endsWith('EventDetails'))?.[1] as
    | { error?: string; cause?: string }
    | undefined;
  return [details?.error, details?.cause].filter(Boolean).join(' — ').slice(0, 300);
}

function formatEvent(e: HistoryEvent): string {
  const name = e.stateEnteredEventDetails?.name ?? e.stateExitedEventDetails?.name ?? '';
  const extra = failureDetails(e);
  return `${e.timestamp?.toISOString()}  ${e.type}${name ? `  ${name}` : ''}${extra ? `  ${extra}` : ''}`;
}

export function executionJson(d: DescribeExecutionCommandOutput) {
  return {
    executionArn: d.executionArn,
    name: d.name,
    status: d.status,
    startDate: d.startDate?.toISOString(),
    stopDate: d.stopDate?.toISOString(),
    input: parseMaybe(d.input),
    output: parseMaybe(d.output),
    error: d.error,
    cause: d.cause,
  };
}

export function summarize(d: DescribeExecutionCommandOutput): string {
  const took =
    d.stopDate && d.startDate
      ? ` in ${((d.stopDate.getTime() - d.startDate.getTime()) / 1000).toFixed(2)} s`
      : '';
  const err = d.error ? `\nerror: ${d.error}${d.cause ? `\ncause: ${d.cause}` : ''}` : '';
  return `${d.status}${took}: ${d.executionArn}${err}`;
}

const parseMaybe = (s?: string) => {
  if (s === undefined) return undefined;
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
};

/** `value` as JSON with `--json`, else `text`. */
export function print(json: boolean | undefined, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (c ?? '').padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
    `(${rows.length} rows)`,
  ].join('\n');
}

export type { Command };
