/**
 * EventBridge for the local platform: `PutEvents` records each event under the state dir and
 * delivers it to the targets of every enabled `AWS::Events::Rule` of the stage whose pattern
 * matches — Lambda functions are invoked with the event, state machines get an execution with it
 * as input — as EventBridge does on AWS.
 *
 * Patterns are evaluated by `event-pattern.ts` (EventBridge's operators, `$or`, nested objects,
 * array-valued fields). Consumers the templates cannot name — serving's stand-in for the EKS
 * deployer — are added with {@link LocalEventBus.addRule}: a pattern read from the assembly, and a
 * local target, delivered the same way.
 *
 * @example
 * const bus = new LocalEventBus({ stage, stateDir, invokeFunction, startExecution });
 * await bus.putEvents({ Entries: [{ Source: 'mlops-kit.registry', DetailType: 'ModelVersionPromoted', Detail: '{}' }] });
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalStage } from './assembly';
import { compilePattern } from './event-pattern';

export interface LocalEventBusOptions {
  readonly stage: LocalStage;
  readonly stateDir: string;
  readonly invokeFunction: (name: string, event: unknown) => Promise<unknown>;
  readonly startExecution: (stateMachineArn: string, input: unknown) => Promise<unknown>;
  /**
   * Publishes to an SNS topic target (the platform's local SNS: the notifications file and log).
   * @default - SNS targets fail to deliver
   */
  readonly publish?: (topicArn: string, message: string) => Promise<unknown>;
  readonly log?: (line: string) => void;
}

/** A target's `InputTransformer`: values picked from the event by path, put into a template. */
interface InputTransformer {
  readonly InputPathsMap?: Record<string, string>;
  readonly InputTemplate: string;
}

interface Rule {
  readonly name: string;
  readonly busName: string;
  readonly matches: (event: unknown) => boolean;
  /** Where a matching event goes: an ARN (Lambda, Step Functions) or a platform-side function. */
  readonly targets: {
    arn?: string;
    deliver?: (event: Record<string, unknown>) => Promise<unknown>;
    input?: string;
    transformer?: InputTransformer;
  }[];
}

/** A rule of the local platform itself (see {@link LocalEventBus.addRule}). */
export interface LocalRule {
  /** Names the rule in delivery errors. */
  readonly name: string;
  /** The bus the rule listens on, by name or ARN. @default 'default' */
  readonly eventBusName?: string;
  /** The EventBridge event pattern, as an object or its JSON text. */
  readonly eventPattern: unknown;
  readonly target: (event: Record<string, unknown>) => Promise<unknown>;
}

export interface PutEventsEntry {
  Source?: string;
  DetailType?: string;
  Detail?: string;
  Resources?: string[];
  EventBusName?: string;
  Time?: string | number;
}

export class LocalEventBus {
  private readonly rules: Rule[];
  /** Deliveries still running, so shutdown and tests can wait for them. */
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly options: LocalEventBusOptions) {
    const { stage } = options;
    this.rules = stage.resourcesOfType('AWS::Events::Rule').flatMap((r) => {
      const p = stage.properties(r) as {
        EventPattern?: Record<string, unknown> | string;
        EventBusName?: string;
        State?: string;
        Targets?: { Arn: string; Input?: string; InputPath?: string; InputTransformer?: InputTransformer }[];
      };
      if (!p.EventPattern || p.State === 'DISABLED') return [];
      return [
        {
          name: stage.physicalName(r),
          busName: busNameOf(p.EventBusName),
          matches: compilePattern(p.EventPattern),
          targets: (p.Targets ?? []).map((t) => ({ arn: t.Arn, input: t.Input, transformer: t.InputTransformer })),
        },
      ];
    });
  }

  /** The Step Functions `events:putEvents` integration and the EventBridge API both land here. */
  async call(operation: string, input: Record<string, unknown>): Promise<unknown> {
    if (operation !== 'PutEvents') throw new Error(`EventBridge ${operation} is not available locally`);
    return this.putEvents(input as { Entries: PutEventsEntry[] });
  }

  async putEvents(input: {
    Entries?: PutEventsEntry[];
  }): Promise<{ FailedEntryCount: number; Entries: object[] }> {
    const entries = input.Entries ?? [];
    if (!Array.isArray(entries) || entries.length === 0 || entries.length > 10) {
      throw Object.assign(new Error('Entries must be a list of 1 to 10 events'), {
        name: 'ValidationException',
      });
    }
    const results: object[] = [];
    let failed = 0;
    for (const entry of entries) {
      if (!entry || typeof entry !== 'object') {
        failed++;
        results.push({ ErrorCode: 'InvalidArgument', ErrorMessage: 'Each entry must be an object.' });
        continue;
      }
      let detail: unknown;
      try {
        detail = JSON.parse(entry.Detail ?? '{}');
      } catch {
        failed++;
        results.push({ ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' });
        continue;
      }
      if (!entry.Source || !entry.DetailType) {
        failed++;
        results.push({ ErrorCode: 'InvalidArgument', ErrorMessage: 'Source and DetailType are required.' });
        continue;
      }
      const event = {
        version: '0',
        id: crypto.randomUUID(),
        'detail-type': entry.DetailType,
        source: entry.Source,
        account: this.options.stage.account,
        time: new Date(entry.Time ?? Date.now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        region: this.options.stage.region,
        resources: entry.Resources ?? [],
        detail,
      };
      this.record(event);
      this.deliver(busNameOf(entry.EventBusName), event);
      results.push({ EventId: event.id });
    }
    return { FailedEntryCount: failed, Entries: results };
  }

  /** Adds a rule whose target is a function of the platform; a bad pattern throws here, not on delivery. */
  addRule(rule: LocalRule): void {
    this.rules.push({
      name: rule.name,
      busName: busNameOf(rule.eventBusName),
      matches: compilePattern(rule.eventPattern),
      targets: [{ deliver: rule.target }],
    });
  }

  /** Resolves when every delivery started so far has finished. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private deliver(busName: string, event: Record<string, unknown>): void {
    for (const rule of this.rules) {
      if (rule.busName !== busName || !rule.matches(event)) continue;
      for (const target of rule.targets) {
        let payload: unknown = event;
        try {
          if (target.input !== undefined) payload = JSON.parse(target.input);
          else if (target.transformer) payload = transformInput(target.transformer, event);
        } catch (err) {
          this.options.log?.(`[events] rule ${rule.name} → ${target.arn}: input transformer failed: ${(err as Error).message}`);
          continue;
        }
        const deliver = target.deliver;
        if (deliver) this.track(Promise.resolve().then(() => deliver(payload as Record<string, unknown>)), `rule ${rule.name}`);
        else this.track(this.send(target.arn!, payload), `rule ${rule.name} → ${target.arn}`);
      }
    }
  }

  private track(work: Promise<unknown>, what: string): void {
    const delivery: Promise<unknown> = work
      .catch((err) => this.options.log?.(`[events] ${what} failed: ${(err as Error).message}`))
      .finally(() => this.pending.delete(delivery));
    this.pending.add(delivery);
  }

  private async send(arn: string, payload: unknown): Promise<unknown> {
    if (arn.includes(':lambda:')) return this.options.invokeFunction(arn, payload);
    if (arn.includes(':states:')) return this.options.startExecution(arn, payload);
    if (arn.includes(':sns:') && this.options.publish) {
      return this.options.publish(arn, typeof payload === 'string' ? payload : JSON.stringify(payload));
    }
    throw new Error(`no local delivery for target ${arn}`);
  }

  private record(event: Record<string, unknown>): void {
    const dir = join(this.options.stateDir, 'events');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'events.jsonl'), `${JSON.stringify(event)}\n`, { flag: 'a' });
  }
}

/** The default bus is named `default`; ARNs and names both identify a bus. */
function busNameOf(nameOrArn: string | undefined): string {
  if (!nameOrArn) return 'default';
  return nameOrArn.includes(':event-bus/') ? nameOrArn.split(':event-bus/')[1]! : nameOrArn;
}

/**
 * EventBridge's input transformer: each `<name>` of the template becomes the value at its path in
 * the event; inside a JSON string the value's text is put in (escaped), elsewhere its JSON. The
 * result is parsed when it is JSON (a state machine's input), else kept as text (an SNS message).
 * A path that names nothing gives `null`, as on AWS.
 */
export function transformInput(transformer: InputTransformer, event: Record<string, unknown>): unknown {
  const values = new Map<string, unknown>();
  for (const [name, path] of Object.entries(transformer.InputPathsMap ?? {})) values.set(name, valueAt(event, path));
  const template = transformer.InputTemplate;
  let out = '';
  let inString = false;
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c === '\\' && inString) {
      out += c + (template[i + 1] ?? '');
      i++;
      continue;
    }
    if (c === '"') inString = !inString;
    const m = c === '<' ? /^<([A-Za-z0-9_.-]+)>/.exec(template.slice(i)) : null;
    if (m && (values.has(m[1]!) || m[1] === 'aws.events.event.json')) {
      const value = m[1] === 'aws.events.event.json' ? event : values.get(m[1]!);
      out += inString ? JSON.stringify(typeof value === 'string' ? value : JSON.stringify(value ?? null)).slice(1, -1) : JSON.stringify(value ?? null);
      i += m[0].length - 1;
      continue;
    }
    out += c;
  }
  try {
    return JSON.parse(out);
  } catch {
    return out;
  }
}

/** The value at a JSONPath such as `$.detail.reportUri` or `$.detail-type` (dotted names only). */
function valueAt(event: Record<string, unknown>, path: string): unknown {
  if (!path.startsWith('$')) throw new Error(`InputPathsMap paths must start with $, but '${path}' was provided`);
  let value: unknown = event;
  for (const key of path.slice(1).split('.').filter(Boolean)) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}
