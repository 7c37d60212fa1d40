/**
 * State machines from the assembly, and the changes the runner makes to a definition before
 * aws-local-stepfunctions sees it:
 *
 * - Tasks without `TimeoutSeconds` get {@link NO_TIMEOUT_SECONDS}: the library would otherwise time
 *   them out at 60 s, which AWS never does (a Standard Task may run as long as its execution).
 * - Context-object paths are redirected so they hold what AWS puts there: `$$.Execution…` reads
 *   the runner's record (the library overwrites `Execution.Input`/`StartTime` inside Map and
 *   Parallel branches) and `$$.State…` reads the state's own entry (the library has none).
 * - `ResultPath: "$"` (the result replaces the input, as the default does) is dropped: the library
 *   writes the result under a key named `$` instead.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import aslValidator from 'asl-validator';
import { kitCacheDir, PROJECT_ROOT } from '../../constructs/bundling';
import type { LocalStage } from '../assembly';

/** A state machine of the stage, ready to run. */
export interface StateMachineSpec {
  readonly name: string;
  readonly arn: string;
  readonly roleArn: string;
  readonly type: 'STANDARD' | 'EXPRESS';
  readonly definition: AslDefinition;
  readonly stackName: string;
  readonly logicalId: string;
  readonly constructPath?: string;
}

export interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
  TimeoutSeconds?: number;
  QueryLanguage?: string;
  Comment?: string;
  [other: string]: unknown;
}

export type AslState = Record<string, unknown> & { Type: string };

/**
 * The longest a Task may run locally when the definition sets no `TimeoutSeconds`: the largest
 * delay Node's timers accept (2^31-1 ms, about 24.8 days). AWS lets such a Task run until the
 * execution ends (up to a year); no local run gets near either limit, and anything larger would
 * overflow `setTimeout` and fire at once.
 */
export const NO_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** A definition the local runner refuses, with the reason. */
export class DefinitionError extends Error {
  override readonly name = 'DefinitionError';
}

/**
 * Every `AWS::StepFunctions::StateMachine` of the stage with its definition resolved: the
 * `DefinitionString` intrinsics evaluated, `DefinitionSubstitutions` applied, and the JSON parsed.
 * JSONata machines are rejected (aws-local-stepfunctions ignores JSONata fields silently).
 *
 * @example
 * const machines = loadStateMachines(readAssembly('cdk.out', { stage: 'Local' }));
 * machines.map((m) => m.name); // ['local-pipeline-training1dbe9c16']
 */
export function loadStateMachines(stage: LocalStage): StateMachineSpec[] {
  return stage.resourcesOfType('AWS::StepFunctions::StateMachine').map((r) => {
    const name = stage.physicalName(r);
    const where = `state machine ${name} (${r.constructPath ?? `${r.stackName}/${r.logicalId}`})`;
    const raw = r.rawProperties;
    let text: string;
    if (raw['DefinitionString'] !== undefined)
      text = String(stage.resolve(r.stackName, raw['DefinitionString']));
    else if (raw['Definition'] !== undefined)
      text = JSON.stringify(stage.resolve(r.stackName, raw['Definition']));
    else
      throw new DefinitionError(
        `${where} has no inline definition (DefinitionS3Location is not supported locally)`,
      );
    const subs = (stage.resolve(r.stackName, raw['DefinitionSubstitutions'] ?? {}) ?? {}) as Record<
      string,
      unknown
    >;
    text = applySubstitutions(text, subs);
    let definition: AslDefinition;
    try {
      definition = JSON.parse(text) as AslDefinition;
    } catch (err) {
      throw new DefinitionError(`${where}: the definition is not JSON (${(err as Error).message})`);
    }
    assertRunnable(definition, where);
    return {
      name,
      arn: stage.ref(r),
      roleArn: raw['RoleArn'] !== undefined ? String(stage.resolve(r.stackName, raw['RoleArn'])) : '',
      type: raw['StateMachineType'] === 'EXPRESS' ? 'EXPRESS' : 'STANDARD',
      definition,
      stackName: r.stackName,
      logicalId: r.logicalId,
      constructPath: r.constructPath,
    };
  });
}

/** `${key}` → value, as Step Functions applies `DefinitionSubstitutions`. */
export function applySubstitutions(text: string, subs: Record<string, unknown>): string {
  return text.replace(/\$\{([^}]+)\}/g, (whole, key: string) => (key in subs ? String(subs[key]) : whole));
}

/**
 * Throws unless the definition is valid JSONPath ASL (asl-validator, as the library runs it).
 *
 * @example
 * assertRunnable({ QueryLanguage: 'JSONata', StartAt: 'A', States: {} }, 'machine m'); // throws
 */
export function assertRunnable(definition: AslDefinition, where: string): void {
  // asl-validator compiles its JSON schemas anew on every call (tens to hundreds of ms): a definition
  // loaded from the assembly and then prepared by the runner is checked once.
  if (runnable.has(definition)) return;
  const jsonata = findJsonata(definition);
  if (jsonata) {
    throw new DefinitionError(
      `${where} uses JSONata (${jsonata}); the local runner runs JSONPath machines only: build it with the JSONPath constructs (e.g. \`LambdaInvoke.jsonPath\`) or \`queryLanguage: QueryLanguage.JSONPATH\``,
    );
  }
  const marker = validMarker(definition);
  if (marker && existsSync(marker)) {
    // Passed before: the validator's one change to a definition, without its schema compilation.
    defaultQueryLanguage(definition);
  } else {
    const { isValid, errorsText } = aslValidator(definition as never, VALIDATION);
    if (!isValid) throw new DefinitionError(`${where}: the definition is not valid ASL: ${errorsText('; ')}`);
    if (marker) recordValid(marker);
  }
  runnable.add(definition);
}

/** Definitions {@link assertRunnable} passed (objects: a changed copy is checked again). */
const runnable = new WeakSet<AslDefinition>();

const VALIDATION = { checkArn: true, checkPaths: true };

/**
 * Where a definition that passed asl-validator is remembered across processes: an empty file named
 * by the sha256 of the definition's JSON, the validator's options and the lockfile (which pins
 * asl-validator and its ajv), under `<kitCacheDir()>/asl-valid/`. asl-validator compiles its JSON
 * schemas on every call, about half a second each on a two-core machine, so every `mlops up` paid
 * seconds to re-check the same six machines; a definition that failed is never recorded, so its
 * errors are reported every time. Undefined when the definition is not plain JSON.
 */
function validMarker(definition: AslDefinition): string | undefined {
  let json: string;
  try {
    json = JSON.stringify(definition);
  } catch {
    return undefined;
  }
  const key = createHash('sha256')
    .update(`asl-valid 1\n${JSON.stringify(VALIDATION)}\n${lockfileHash()}\n`)
    .update(json)
    .digest('hex');
  return join(kitCacheDir(), 'asl-valid', key);
}

function recordValid(marker: string): void {
  try {
    mkdirSync(join(marker, '..'), { recursive: true });
    writeFileSync(marker, '');
  } catch {
    // A read-only cache only costs the next start its validation.
  }
}

let lockfile: string | undefined;
function lockfileHash(): string {
  if (lockfile === undefined) {
    try {
      lockfile = createHash('sha256').update(readFileSync(join(PROJECT_ROOT, 'package-lock.json'))).digest('hex');
    } catch {
      lockfile = '-';
    }
  }
  return lockfile;
}

/**
 * What asl-validator 4 writes into the definition it checks: every state under any `States` object
 * (`$..States`) without a `QueryLanguage` gets the machine's (JSONPath by default). A definition
 * passed from the cache gets the same, so the runner sees the same object either way.
 */
function defaultQueryLanguage(definition: AslDefinition): void {
  const language = definition.QueryLanguage ?? 'JSONPath';
  const found: unknown[] = [];
  const walk = (v: unknown) => {
    if (!v || typeof v !== 'object') return;
    for (const [k, child] of Object.entries(v)) {
      if (k === 'States') found.push(child);
      walk(child);
    }
  };
  walk(definition);
  for (const states of found) {
    for (const state of Object.values(states as Record<string, Record<string, unknown>>)) {
      if (!state['QueryLanguage']) state['QueryLanguage'] = language;
    }
  }
}

function findJsonata(
  def: { QueryLanguage?: unknown; States?: Record<string, AslState> },
  path = 'top level',
): string | undefined {
  if (def.QueryLanguage === 'JSONata') return path;
  for (const [name, state] of Object.entries(def.States ?? {})) {
    if (state['QueryLanguage'] === 'JSONata') return `state ${name}`;
    for (const child of children(state)) {
      const found = findJsonata(child, `state ${name}`);
      if (found) return found;
    }
  }
  return undefined;
}

/** The nested machines of a state: a Map's item processor (or Iterator), a Parallel's branches. */
export function children(state: AslState): { States?: Record<string, AslState>; StartAt?: string }[] {
  const out: { States?: Record<string, AslState>; StartAt?: string }[] = [];
  for (const key of ['ItemProcessor', 'Iterator'])
    if (state[key]) out.push(state[key] as { States: Record<string, AslState>; StartAt?: string });
  if (Array.isArray(state['Branches']))
    out.push(...(state['Branches'] as { States: Record<string, AslState>; StartAt?: string }[]));
  return out;
}

/** Every state of the machine, nested ones (Map, Parallel) included; names are machine-unique in ASL. */
export function allStates(def: { States?: Record<string, AslState> }): [string, AslState][] {
  const out: [string, AslState][] = [];
  for (const [name, state] of Object.entries(def.States ?? {})) {
    out.push([name, state]);
    for (const child of children(state)) out.push(...allStates(child));
  }
  return out;
}

/** Keys whose string values are JSONPath (or intrinsic functions) the library evaluates. */
const isPathKey = (key: string) => key.endsWith('.$') || key.endsWith('Path') || key === 'Variable';

/**
 * A deep copy of `def` for the library: Task timeouts made explicit and context paths redirected
 * (see the module comment). `stateIndex` gives each state its slot under `$$.__State`.
 */
export function prepareForLibrary(def: AslDefinition, stateIndex: Map<string, number>): AslDefinition {
  const copy = structuredClone(def);
  if (copy.TimeoutSeconds !== undefined)
    copy.TimeoutSeconds = Math.min(copy.TimeoutSeconds, NO_TIMEOUT_SECONDS);
  for (const [name, state] of allStates(copy)) {
    if (state.Type === 'Task') {
      if (state['TimeoutSeconds'] === undefined && state['TimeoutSecondsPath'] === undefined) {
        state['TimeoutSeconds'] = NO_TIMEOUT_SECONDS;
      } else if (typeof state['TimeoutSeconds'] === 'number') {
        state['TimeoutSeconds'] = Math.min(state['TimeoutSeconds'], NO_TIMEOUT_SECONDS);
      }
    }
    if (state['ResultPath'] === '$') delete state['ResultPath'];
    for (const c of (state['Catch'] ?? []) as Record<string, unknown>[]) if (c['ResultPath'] === '$') delete c['ResultPath'];
    const slot = stateIndex.get(name)!;
    const rewrite = (v: unknown, key: string): unknown => {
      if (typeof v === 'string') {
        return isPathKey(key)
          ? v
              .replace(/\$\$\.Execution(?![\w])/g, '$$$$.__Execution')
              .replace(/\$\$\.State(?![\w])/g, `$$$$.__State.s${slot}`)
          : v;
      }
      if (Array.isArray(v)) return v.map((x) => rewrite(x, key));
      if (v && typeof v === 'object') {
        const o = v as Record<string, unknown>;
        for (const k of Object.keys(o)) o[k] = rewrite(o[k], k);
        return o;
      }
      return v;
    };
    for (const key of Object.keys(state)) {
      // Nested machines are visited as their own states by allStates.
      if (key === 'ItemProcessor' || key === 'Iterator' || key === 'Branches') continue;
      state[key] = rewrite(state[key], key);
    }
  }
  return copy;
}
