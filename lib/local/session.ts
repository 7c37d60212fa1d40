/**
 * How `mlops` commands reach the local platform: the one `mlops up` is running (found through
 * `runtime.json`), or, when none runs, a transient one started in this process for the command's
 * duration. Either way the command talks to it through AWS SDK clients pointed at the local
 * endpoints, so the code path is the same one a user's own scripts would take.
 *
 * @example
 * await withSession(stateDir, async (s) => s.sfn.send(new ListStateMachinesCommand({})));
 */
import { AthenaClient } from '@aws-sdk/client-athena';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { LocalPlatform, StartPlatformOptions } from './platform';
import { acquireStateLock } from './lock';
import { readRuntimeInfo, type RuntimeInfo } from './runtime-info';

export interface Session {
  readonly info: RuntimeInfo;
  readonly sfn: SFNClient;
  readonly athena: AthenaClient;
  /** Lambda's Invoke API on the local endpoint. */
  invoke(functionName: string, payload: unknown): Promise<{ payload: unknown; functionError?: string }>;
  /** Lambda's ListFunctions on the local endpoint: function names. */
  listFunctions(): Promise<string[]>;
  /** True when this process started the platform for this command. */
  readonly transient: boolean;
}

const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export function sessionFor(info: RuntimeInfo, transient: boolean): Session {
  const common = {
    endpoint: info.awsEndpoint,
    region: info.region,
    credentials: CREDENTIALS,
    maxAttempts: 1,
  };
  return {
    info,
    transient,
    sfn: new SFNClient(common),
    athena: new AthenaClient(common),
    async listFunctions() {
      const res = await fetch(`${info.awsEndpoint}/2015-03-31/functions/`);
      const body = (await res.json()) as { Functions: { FunctionName: string }[] };
      return body.Functions.map((f) => f.FunctionName);
    },
    async invoke(functionName, payload) {
      const res = await fetch(
        `${info.awsEndpoint}/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations`,
        {
          method: 'POST',
          body: JSON.stringify(payload ?? {}),
        },
      );
      const body = await res.json().catch(() => null);
      if (!res.ok)
        throw new Error(
          (body as { Message?: string } | null)?.Message ?? `Invoke failed with HTTP ${res.status}`,
        );
      return { payload: body, functionError: res.headers.get('x-amz-function-error') ?? undefined };
    },
  };
}

/**
 * Runs `fn` against the running platform, or against a transient one (synthesized if the
 * assembly is missing or older than the sources).
 */
export async function withSession<T>(
  stateDir: string,
  fn: (session: Session) => Promise<T>,
  platformOptions: Partial<StartPlatformOptions> = {},
): Promise<T> {
  const running = readRuntimeInfo(stateDir);
  if (running) return fn(sessionFor(running, false));
  // Taken before the synthesis: an `up` still starting on this state dir is reading its assembly.
  const lock = acquireStateLock(stateDir);
  try {
    const platform = await startTransient(stateDir, { ...platformOptions, lock });
    try {
      return await fn(sessionFor(platform.info, true));
    } finally {
      await platform.close();
    }
  } finally {
    lock.release();
  }
}

async function startTransient(
  stateDir: string,
  options: Partial<StartPlatformOptions>,
): Promise<LocalPlatform> {
  // Loaded here: a command against a running platform needs neither the engines nor the synthesis.
  const [{ startPlatform }, { synthLocalStage }] = await Promise.all([import('./platform'), import('./synth')]);
  // The same content-keyed plan as `mlops up`: a no-op when the assembly matches the sources.
  const assemblyDir = synthLocalStage(stateDir);
  return startPlatform({ ...options, stateDir, assemblyDir });
}
