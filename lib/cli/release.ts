/**
 * `mlops release`, `mlops approve`, `mlops reject`: model releases between environments.
 *
 * An environment is named (`staging`, `production`: its endpoints are read from its stacks'
 * CloudFormation outputs with the AWS credential chain, `--from-profile`/`--to-profile` choosing
 * the profile of each side) or given as a local platform's gateway URL (`http://127.0.0.1:9080`:
 * its endpoints are asked of the gateway). `local` is the default local platform, 127.0.0.1:8080.
 *
 * `release` starts the target's `release` state machine and prints its progress live, as `mlops
 * run` does, until the release waits for approval (or ends); `approve`/`reject` find the waiting
 * step's task token in the execution's history (the approval step's parameters hold it, so no
 * other store is needed and whoever may read the execution and send its task result may decide),
 * answer it, and follow the execution to its end.
 *
 * @example
 *   npx mlops release --model wine-quality --version 1 --from http://127.0.0.1:8080 --to http://127.0.0.1:9080
 *   npx mlops approve wine-quality-v1-m3x2k --to http://127.0.0.1:9080
 *   npx mlops release --model wine-quality --version 3 --from staging --to production --from-profile staging --to-profile production
 */
import { userInfo } from 'node:os';
import type { DescribeExecutionCommandOutput, HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { Option } from 'commander';
import { ENVIRONMENT_NAMES } from '../config';
import { layout, stateDirFrom } from '../local/layout';
import { PLATFORM_INFO_PATH, readRuntimeInfo, type RuntimeInfo } from '../local/runtime-info';
import { connectionFailure, executionJson, follow, jsonOption, print, stateDirOption, summarize } from './local';
import { CliError, type CommandModule, EXIT } from './program';

/** The approval step's name in the release machine (`RELEASE_STATES.approval`). */
const APPROVAL_STATE = 'Wait for approval';
const RELEASE_REJECTED = 'ReleaseRejected';
const DEFAULT_LOCAL = 'http://127.0.0.1:8080';
/** The Step Functions SDK, loaded when a command runs (see lib/cli/local.ts). */
const sfnSdk = () => import('@aws-sdk/client-sfn');

/** One side of a release, resolved. */
export type ReleaseEnvironment =
  | { readonly kind: 'local'; readonly name: string; readonly info: Omit<RuntimeInfo, 'pid' | 'processStart'> }
  | {
      readonly kind: 'aws';
      readonly name: string;
      readonly region: string;
      readonly credentials?: AwsCredentialIdentityProvider;
      readonly outputs: Readonly<Record<string, string>>;
    };

export const releaseCommands: CommandModule = (program) => {
  const side = (which: 'from' | 'to') => [
    new Option(`--${which}-profile <profile>`, `AWS profile for the ${which === 'from' ? 'source' : 'target'} environment (named environments; default MLOPS_<ENV>_PROFILE, else the credential chain)`),
    new Option(`--${which}-region <region>`, `its region (default MLOPS_<ENV>_REGION, the profile's, or AWS_REGION)`),
  ];
  const release = program
    .command('release')
    .description("release a registered model version from one environment into another: the target's release machine copies, verifies and registers it, then waits for approval")
    .requiredOption('--model <name>', 'the registered model')
    .requiredOption('--version <n>', 'its version in the source registry')
    .requiredOption('--from <env|url>', `the source: ${ENVIRONMENT_NAMES.join(', ')}, or a local platform's gateway URL`)
    .requiredOption('--to <env|url>', 'the target, likewise');
  for (const o of [...side('from'), ...side('to')]) release.addOption(o);
  release
    .option('--wait', 'keep following through the approval to the end (approve or reject from another terminal)')
    .addOption(jsonOption())
    .addHelpText(
      'after',
      '\nExamples:\n  npx mlops release --model wine-quality --version 1 --from http://127.0.0.1:8080 --to http://127.0.0.1:9080\n' +
        '  npx mlops release --model wine-quality --version 3 --from staging --to production --from-profile staging --to-profile production\n',
    )
    .action(async (opts) => {
      const version = String(opts.version);
      if (!/^[1-9]\d*$/.test(version)) throw new CliError(`--version must be a version number such as 1, but ${version} was provided`, EXIT.usage);
      const from = await resolveReleaseEnvironment(opts.from, { profile: opts.fromProfile, region: opts.fromRegion });
      const to = await resolveReleaseEnvironment(opts.to, { profile: opts.toProfile, region: opts.toRegion });
      if (from.name === to.name) throw new CliError(`--from and --to must differ, but both name ${from.name}`, EXIT.usage);
      const target = await targetMachine(to);
      const { StartExecutionCommand } = await sfnSdk();
      const input = { model: opts.model, version, source: sourceOf(from) };
      const name = `${opts.model}-v${version}-${Date.now().toString(36)}`.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80);
      const started = await send(to, () =>
        machineArn(target).then((stateMachineArn) =>
          target.sfn.send(new StartExecutionCommand({ stateMachineArn, input: JSON.stringify(input), name })),
        ),
      );
      const out = opts.json ? undefined : process.stderr;
      out?.write(`release ${name}: ${opts.model} version ${version} from ${from.name} to ${to.name}\n`);
      const d = await send(to, () =>
        follow(target, started.executionArn!, out, opts.wait ? undefined : (e) => e.stateEnteredEventDetails?.name === APPROVAL_STATE),
      );
      process.exitCode = await report(d, opts.json, opts.to);
    });

  for (const decision of ['approve', 'reject'] as const) {
    const cmd = program
      .command(decision)
      .description(
        decision === 'approve'
          ? 'approve a release waiting for approval: the version is promoted (and served where serving runs)'
          : 'reject a release waiting for approval: the version is archived and never served',
      )
      .argument('<execution>', 'the release execution (name or ARN, as `mlops release` printed it)')
      .option('--to <env|url>', 'the environment the release runs in (default: the local platform of --state-dir)');
    for (const o of side('to')) cmd.addOption(o);
    if (decision === 'reject') cmd.option('--reason <text>', 'why; recorded on the archived version', 'rejected at approval');
    cmd
      .addOption(stateDirOption())
      .addOption(jsonOption())
      .action(async (execution: string, opts) => {
        const to = opts.to
          ? await resolveReleaseEnvironment(opts.to, { profile: opts.toProfile, region: opts.toRegion })
          : localFromStateDir(stateDirFrom(opts.stateDir));
        const target = await targetMachine(to);
        const { SendTaskFailureCommand, SendTaskSuccessCommand } = await sfnSdk();
        const arn = await send(to, () => findReleaseExecution(target, execution));
        const token = await send(to, () => pendingToken(target.sfn, arn));
        await send(to, () =>
          decision === 'approve'
            ? target.sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify({ approved: true, by: whoami() }) }))
            : target.sfn.send(
                new SendTaskFailureCommand({ taskToken: token, error: RELEASE_REJECTED, cause: String(opts.reason).slice(0, 32_000) }),
              ),
        );
        const d = await send(to, () => follow(target, arn, opts.json ? undefined : process.stderr));
        process.exitCode = await report(d, opts.json, opts.to ?? 'the local platform', decision === 'reject');
      });
  }
};

const whoami = () => {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
};

/** `staging`/`production` from their stacks' outputs, `local` or a URL from the platform itself. */
export async function resolveReleaseEnvironment(
  spec: string,
  options: { profile?: string; region?: string } = {},
): Promise<ReleaseEnvironment> {
  if (spec === 'local') return resolveReleaseEnvironment(DEFAULT_LOCAL, options);
  if (/^https?:\/\//.test(spec)) {
    const url = spec.replace(/\/+$/, '');
    let res: Response;
    try {
      res = await fetch(`${url}${PLATFORM_INFO_PATH}`, { signal: AbortSignal.timeout(10_000) });
    } catch (err) {
      throw new CliError(`no local platform answers at ${url} (${connectionFailure(err) ?? (err as Error).message}): start it with \`npx mlops up\``, EXIT.unavailable);
    }
    if (!res.ok) throw new CliError(`${url} is not a local mlops platform (GET ${PLATFORM_INFO_PATH} answered ${res.status})`, EXIT.unavailable);
    return { kind: 'local', name: url, info: (await res.json()) as Omit<RuntimeInfo, 'pid' | 'processStart'> };
  }
  if (!(ENVIRONMENT_NAMES as readonly string[]).includes(spec)) {
    throw new CliError(`an environment must be one of ${ENVIRONMENT_NAMES.join(', ')} or a URL, but ${spec} was provided`, EXIT.usage);
  }
  // A pipeline (the delivery stack's tag build) sets these instead of passing flags.
  const profile = options.profile ?? process.env[`MLOPS_${spec.toUpperCase()}_PROFILE`];
  const region = options.region ?? process.env[`MLOPS_${spec.toUpperCase()}_REGION`];
  const [{ CloudFormationClient, DescribeStacksCommand }, { fromIni }] = await Promise.all([
    import('@aws-sdk/client-cloudformation'),
    import('@aws-sdk/credential-providers'),
  ]);
  const credentials = profile ? fromIni({ profile }) : undefined;
  const cfn = new CloudFormationClient({ ...(region ? { region } : {}), ...(credentials ? { credentials } : {}) });
  const outputs: Record<string, string> = {};
  for (const stack of ['Registry', 'Release']) {
    const stackName = `mlops-${spec}-${stack}`;
    try {
      const { Stacks = [] } = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
      for (const o of Stacks[0]?.Outputs ?? []) if (o.OutputKey && o.OutputValue) outputs[o.OutputKey] = o.OutputValue;
    } catch (err) {
      throw new CliError(
        `the ${spec} environment's stack ${stackName} could not be read (${(err as Error).message}): deploy it, or pass --${spec === 'production' ? 'to' : 'from'}-profile/--…-region for its account`,
        EXIT.unavailable,
      );
    }
  }
  return { kind: 'aws', name: spec, region: await cfn.config.region(), ...(credentials ? { credentials } : {}), outputs };
}

function localFromStateDir(stateDir: string): ReleaseEnvironment {
  const info = readRuntimeInfo(stateDir);
  if (!info) {
    throw new CliError(
      `no local platform is running on ${layout(stateDir).root} (a release waits in a running platform): pass --to <url>, or start it with \`npx mlops up\``,
      EXIT.unavailable,
    );
  }
  return { kind: 'local', name: info.gatewayUrl, info };
}

/** The source part of the release machine's input. */
function sourceOf(env: ReleaseEnvironment): Record<string, string> {
  if (env.kind === 'local') return { environment: env.name, registry_url: `${env.info.gatewayUrl}/`, s3_endpoint: env.info.s3Endpoint };
  const role = env.outputs['ReleaseSourceRoleArn'];
  if (!role) {
    throw new CliError(
      `the ${env.name} environment has no release-source role (output ReleaseSourceRoleArn of mlops-${env.name}-Release): set release.to in its config and deploy it`,
      EXIT.unavailable,
    );
  }
  return { environment: env.name, registry_url: env.outputs['ApiUrl']!, role_arn: role, region: env.region };
}

/** The target's Step Functions client and its release machine. */
async function targetMachine(env: ReleaseEnvironment): Promise<{ sfn: SFNClient; arn: string }> {
  const { SFNClient } = await sfnSdk();
  if (env.kind === 'local') {
    const sfn = new SFNClient({
      endpoint: env.info.awsEndpoint,
      region: env.info.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    // The local platform names a machine's ARN after its logical id; the list finds it.
    return { sfn, arn: `local:${env.info.stage}` };
  }
  const arn = env.outputs['ReleaseStateMachineArn'];
  if (!arn) throw new CliError(`the ${env.name} environment has no release machine (output ReleaseStateMachineArn of mlops-${env.name}-Release)`, EXIT.unavailable);
  return { sfn: new SFNClient({ region: env.region, ...(env.credentials ? { credentials: env.credentials } : {}) }), arn };
}

/** Runs a call to an environment; a local platform that stopped answering is one sentence. */
async function send<T>(env: ReleaseEnvironment, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof CliError) throw err;
    const refused = connectionFailure(err);
    if (refused) throw new CliError(`${env.name} stopped answering (${refused})`, EXIT.unavailable);
    const name = (err as Error).name;
    if (['TaskDoesNotExist', 'TaskTimedOut', 'InvalidToken', 'ExecutionDoesNotExist', 'StateMachineDoesNotExist'].includes(name)) {
      throw new CliError(`${(err as Error).message}`, EXIT.usage);
    }
    throw err;
  }
}

/** The local machine's ARN is found by its name (`…Release…`); on AWS it comes from the outputs. */
async function machineArn(target: { sfn: SFNClient; arn: string }): Promise<string> {
  if (!target.arn.startsWith('local:')) return target.arn;
  const { ListStateMachinesCommand } = await sfnSdk();
  const { stateMachines = [] } = await target.sfn.send(new ListStateMachinesCommand({}));
  const found = stateMachines.find((m) => /Release/i.test(m.name ?? ''));
  if (!found) throw new CliError('the target platform has no release state machine: update it (`npx mlops up --synth`)', EXIT.unavailable);
  target.arn = found.stateMachineArn!;
  return target.arn;
}

async function findReleaseExecution(target: { sfn: SFNClient; arn: string }, query: string): Promise<string> {
  if (query.startsWith('arn:')) return query;
  const stateMachineArn = await machineArn(target);
  const { ListExecutionsCommand } = await sfnSdk();
  let nextToken: string | undefined;
  do {
    const page = await target.sfn.send(new ListExecutionsCommand({ stateMachineArn, nextToken }));
    const found = page.executions?.find((e) => e.name === query);
    if (found) return found.executionArn!;
    nextToken = page.nextToken;
  } while (nextToken);
  throw new CliError(`no release execution named '${query}' (see \`mlops release\`'s output)`, EXIT.usage);
}

/** The task token of the approval step the execution waits in. */
async function pendingToken(sfn: SFNClient, executionArn: string): Promise<string> {
  const { GetExecutionHistoryCommand } = await sfnSdk();
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken, maxResults: 1000, includeExecutionData: true }));
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  const scheduled = events.filter((e) => e.type === 'TaskScheduled' && e.taskScheduledEventDetails?.parameters?.includes('"taskToken"'));
  const last = scheduled.at(-1);
  const ended = events.some((e) => e.type?.startsWith('Execution') && e.type !== 'ExecutionStarted');
  const answered = last && events.some((e) => e.id! > last.id! && ['TaskSucceeded', 'TaskFailed', 'TaskTimedOut'].includes(e.type ?? ''));
  if (!last || ended || answered) {
    throw new CliError(`the release ${executionArn.split(':').at(-1)} is not waiting for approval${ended ? ' (it has ended)' : ''}`, EXIT.usage);
  }
  const token = findToken(JSON.parse(last.taskScheduledEventDetails!.parameters!));
  if (!token) throw new CliError('the approval step holds no task token', EXIT.failed);
  return token;
}

function findToken(value: unknown): string | undefined {
  if (typeof value === 'string' && value.startsWith('{')) {
    try {
      return findToken(JSON.parse(value));
    } catch {
      return undefined;
    }
  }
  if (!value || typeof value !== 'object') return undefined;
  const o = value as Record<string, unknown>;
  if (typeof o['taskToken'] === 'string') return o['taskToken'];
  for (const v of Object.values(o)) {
    const t = findToken(v);
    if (t) return t;
  }
  return undefined;
}

/** Prints where the release stands; the exit code says whether it went as asked. */
async function report(
  d: DescribeExecutionCommandOutput,
  json: boolean | undefined,
  to: string,
  rejecting = false,
): Promise<number> {
  const name = d.name ?? d.executionArn?.split(':').at(-1);
  if (d.status === 'RUNNING') {
    print(json, { ...executionJson(d), waitingForApproval: true }, [
      `waiting for approval: ${name}`,
      `  approve: npx mlops approve ${name} --to ${to}`,
      `  reject:  npx mlops reject ${name} --to ${to} --reason "…"`,
    ].join('\n'));
    return EXIT.ok;
  }
  const output = d.output ? (JSON.parse(d.output) as Record<string, unknown>) : undefined;
  if (d.status === 'SUCCEEDED' && typeof output?.['summary'] === 'string' && output['already_released']) {
    print(json, executionJson(d), `${output['summary']}`);
    return EXIT.ok;
  }
  if (d.status === 'SUCCEEDED') {
    const released = output?.['released'] as { model?: string; version?: string } | undefined;
    print(json, executionJson(d), `${summarize(d)}\nreleased: ${released?.model} version ${released?.version} → Production`);
    return EXIT.ok;
  }
  const cause = causeMessage(d.cause);
  print(json, executionJson(d), `${d.status}: ${name}\nerror: ${d.error}${cause ? `\n${cause}` : ''}`);
  return rejecting && d.error === RELEASE_REJECTED ? EXIT.ok : EXIT.failed;
}

/** A Lambda failure's cause is `{errorType, errorMessage, trace}`: its message is the sentence. */
function causeMessage(cause?: string): string | undefined {
  if (!cause) return undefined;
  try {
    const c = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof c.errorMessage === 'string') return c.errorMessage;
  } catch {
    // Not JSON: the cause is the sentence.
  }
  return cause;
}
