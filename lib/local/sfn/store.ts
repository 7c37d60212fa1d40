/**
 * Execution records on disk: one JSON file per execution under
 * `<stateDir>/executions/<stateMachineName>/<executionName>.json` (a directory per machine,
 * because execution names are unique per state machine, not per account). Every write goes to a
 * temp file first and is renamed into place, so a reader never sees half a record.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { layout } from '../layout';
import type { HistoryEvent } from './history';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface ExecutionRecord {
  executionArn: string;
  stateMachineArn: string;
  stateMachineName: string;
  name: string;
  status: ExecutionStatus;
  /** ISO-8601. */
  startDate: string;
  stopDate?: string;
  /** The input and output as JSON text, as DescribeExecution returns them. */
  input: string;
  output?: string;
  error?: string;
  cause?: string;
  events: HistoryEvent[];
  /** Process that ran it; a RUNNING record of a dead process is reported ABORTED. */
  pid: number;
}

export class ExecutionStore {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = layout(stateDir).executions;
  }

  file(machine: string, name: string): string {
    return join(this.dir, machine, `${name}.json`);
  }

  exists(machine: string, name: string): boolean {
    return existsSync(this.file(machine, name));
  }

  write(record: ExecutionRecord): void {
    const target = this.file(record.stateMachineName, record.name);
    mkdirSync(join(this.dir, record.stateMachineName), { recursive: true });
    const tmp = join(this.dir, `.${randomUUID()}.tmp`);
    writeFileSync(tmp, JSON.stringify(record));
    renameSync(tmp, target);
  }

  read(machine: string, name: string): ExecutionRecord | undefined {
    try {
      return JSON.parse(readFileSync(this.file(machine, name), 'utf8')) as ExecutionRecord;
    } catch {
      return undefined;
    }
  }

  /** Every record of a machine (or all machines), unsorted. */
  list(machine?: string): ExecutionRecord[] {
    const machines = machine ? [machine] : safeReaddir(this.dir).filter((d) => !d.startsWith('.'));
    const out: ExecutionRecord[] = [];
    for (const m of machines) {
      for (const f of safeReaddir(join(this.dir, m))) {
        if (!f.endsWith('.json')) continue;
        const r = this.read(m, f.slice(0, -'.json'.length));
        if (r) out.push(r);
      }
    }
    return out;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
