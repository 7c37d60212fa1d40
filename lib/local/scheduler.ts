/**
 * EventBridge Scheduler for the local platform: every enabled `AWS::Scheduler::Schedule` of the
 * stage with a `rate(...)` expression invokes its target (a Lambda function, or a state machine
 * execution) every period while the platform runs, with the target's `Input`, as Scheduler does on
 * AWS. `cron(...)` and `at(...)` schedules are listed as skipped: a local session rarely spans one.
 * The local config's schedules are the registry's outbox flush (training, materialization and drift
 * schedules are null locally, and `mlops run` starts those by hand).
 *
 * @example
 * const scheduler = new LocalScheduler({ stage, invokeFunction, startExecution, log });
 * scheduler.start(); … scheduler.stop();
 */
import type { LocalStage } from './assembly';

export interface LocalSchedulerOptions {
  readonly stage: LocalStage;
  readonly invokeFunction: (nameOrArn: string, event: unknown) => Promise<unknown>;
  readonly startExecution: (stateMachineArn: string, input: unknown) => Promise<unknown>;
  readonly log?: (line: string) => void;
}

/** One schedule the local platform runs. */
export interface LocalSchedule {
  readonly name: string;
  readonly periodMs: number;
  readonly targetArn: string;
  readonly input: unknown;
}

const UNIT_MS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** `rate(5 minutes)` → 300000; `undefined` for anything else (cron, at). */
export function ratePeriodMs(expression: string): number | undefined {
  const m = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(expression.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return n > 0 ? n * UNIT_MS[m[2]!]! : undefined;
}

export class LocalScheduler {
  readonly schedules: readonly LocalSchedule[];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly options: LocalSchedulerOptions) {
    const { stage } = options;
    this.schedules = stage.resourcesOfType('AWS::Scheduler::Schedule').flatMap((r) => {
      const p = stage.properties(r) as { ScheduleExpression?: string; State?: string; Target?: { Arn?: string; Input?: string } };
      const periodMs = p.ScheduleExpression ? ratePeriodMs(p.ScheduleExpression) : undefined;
      const name = stage.physicalName(r);
      if (p.State === 'DISABLED' || !p.Target?.Arn) return [];
      if (periodMs === undefined) {
        options.log?.(`[scheduler] ${name}: ${String(p.ScheduleExpression)} is not run locally (only rate(...) schedules are)`);
        return [];
      }
      return [{ name, periodMs, targetArn: p.Target.Arn, input: p.Target.Input === undefined ? {} : JSON.parse(p.Target.Input) }];
    });
  }

  /** Starts every schedule; the first invocation is one period from now, as on AWS. */
  start(): void {
    for (const s of this.schedules) {
      const timer = setInterval(() => void this.fire(s), s.periodMs);
      timer.unref();
      this.timers.push(timer);
    }
  }

  /**
   * Invokes a schedule's target now (what a tick does) and resolves what the target answered;
   * a failure is logged and resolves `undefined` (the next tick tries again).
   */
  async fire(schedule: LocalSchedule): Promise<unknown> {
    const work = (
      schedule.targetArn.includes(':states:')
        ? this.options.startExecution(schedule.targetArn, schedule.input)
        : this.options.invokeFunction(schedule.targetArn, schedule.input)
    ).catch((err) => {
      this.options.log?.(`[scheduler] ${schedule.name} failed: ${(err as Error).message}`);
      return undefined;
    });
    this.running.add(work);
    try {
      return await work;
    } finally {
      this.running.delete(work);
    }
  }

  /** Stops the timers and waits for invocations in flight. */
  async stop(): Promise<void> {
    for (const t of this.timers.splice(0)) clearInterval(t);
    await Promise.allSettled([...this.running]);
  }
}
