/**
 * Execution records on disk: one JSON file per execution under
 * `<stateDir>/executions/<stateMachineName>/<executionName>.json` (a directory per machine,
 * because execution names are unique per state machine, not per account). Every write goes to a
 * temp file first and is renamed into place, so a reader never sees half a record.
 */
import { randomUUID } from 'node:crypto';
import * as nodeFs from 'node:fs';
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
  /** That process's start time, so a pid reused since is not mistaken for it (see `processStartTime`). */
  processStart?: string;
}

/** The file operations the store uses; tests inject failing ones (ENOSPC, EIO). */
export type StoreFs = Pick<
  typeof nodeFs,
  'existsSync' | 'mkdirSync' | 'readdirSync' | 'readFileSync' | 'renameSync' | 'rmSync' | 'writeFileSync'
>;

export class ExecutionStore {
  readonly dir: string;

  constructor(
    stateDir: string,
    private readonly fs: StoreFs = nodeFs,
  ) {
    this.dir = layout(stateDir).executions;
  }

  file(machine: string, name: string): string {
    return join(this.dir, machine, `${name}.json`);
  }

  exists(machine: string, name: string): boolean {
    return this.fs.existsSync(this.file(machine, name));
  }

  /** Writes the whole record or nothing; an I/O error (ENOSPC, EIO) is thrown, with no temp file left. */
  write(record: ExecutionRecord): void {
    const target = this.file(record.stateMachineName, record.name);
    this.fs.mkdirSync(join(this.dir, record.stateMachineName), { recursive: true });
    const tmp = join(this.dir, `.${randomUUID()}.tmp`);
    try {
      this.fs.writeFileSync(tmp, JSON.stringify(record));
      this.fs.renameSync(tmp, target);
    } catch (err) {
      this.fs.rmSync(tmp, { force: true });
      throw err;
    }
  }

  read(machine: string, name: string): ExecutionRecord | undefined {
    try {
      return JSON.parse(this.fs.readFileSync(this.file(machine, name), 'utf8')) as ExecutionRecord;
    } catch {
      return undefined;
    }
  }

  /** Every record of a machine (or all machines), unsorted. */
  list(machine?: string): ExecutionRecord[] {
    const machines = machine ? [machine] : this.readdir(this.dir).filter((d) => !d.startsWith('.'));
    const out: ExecutionRecord[] = [];
    for (const m of machines) {
      for (const f of this.readdir(join(this.dir, m))) {
        if (!f.endsWith('.json')) continue;
        const r = this.read(m, f.slice(0, -'.json'.length));
        if (r) out.push(r);
      }
    }
    return out;
  }

  private readdir(dir: string): string[] {
    try {
      return this.fs.readdirSync(dir);
    } catch {
      return [];
    }
  }
}
