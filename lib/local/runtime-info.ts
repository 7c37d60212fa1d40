/**
 * The running platform's `runtime.json`, apart from the platform itself: the commands that only
 * talk to a running platform (`mlops run`, `executions`, `release`, …) read it without loading the
 * engines `startPlatform` starts.
 */
import { readFileSync } from 'node:fs';
import { layout } from './layout';
import { isSameProcessAlive } from './lock';

/** Where the gateway answers its platform's endpoints ({@link RuntimeInfo} without the process). */
export const PLATFORM_INFO_PATH = '/.well-known/mlops-platform';

/** What `runtime.json` records for other `mlops` commands to find a running platform. */
export interface RuntimeInfo {
  readonly pid: number;
  /** The process's start time (see `processStartTime`): a pid reused by another process is not this one. */
  readonly processStart?: string;
  readonly startedAt: string;
  readonly stage: string;
  readonly gatewayUrl: string;
  readonly awsEndpoint: string;
  readonly s3Endpoint: string;
  readonly dynamodbEndpoint: string;
  readonly region: string;
  readonly account: string;
}

/** The running platform recorded in the state dir, if its process is alive. */
export function readRuntimeInfo(stateDir: string): RuntimeInfo | undefined {
  let info: RuntimeInfo;
  try {
    info = JSON.parse(readFileSync(layout(stateDir).runtimeFile, 'utf8'));
  } catch {
    return undefined;
  }
  // A stale file from a platform that did not shut down cleanly, possibly naming a pid reused since.
  return isSameProcessAlive(info.pid, info.processStart) ? info : undefined;
}
