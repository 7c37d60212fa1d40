/**
 * CloudFormation intrinsic functions, evaluated the way CloudFormation would at deploy time, so the
 * local environment sees the same values (names, ARNs, JSON definitions) the cloud does.
 *
 * The evaluator is pure over an {@link IntrinsicScope}: the assembly reader supplies one per stack
 * (resources, parameters, conditions, mappings, exports), and unit tests supply a plain object.
 */
import { createHash } from 'node:crypto';

/** What an intrinsic can look up; one scope per stack. */
export interface IntrinsicScope {
  readonly stackName: string;
  readonly region: string;
  readonly accountId: string;
  /** @default 'aws' */
  readonly partition?: string;
  /** @default 'amazonaws.com' */
  readonly urlSuffix?: string;
  /** The template's `Parameters` section. */
  readonly parameters?: Record<string, { Type?: string; Default?: unknown }>;
  /** Values given for parameters; otherwise their `Default` is used. */
  readonly parameterValues?: Record<string, unknown>;
  /** Values of SSM parameters that `AWS::SSM::Parameter::Value<…>` parameters name. */
  readonly ssmParameters?: Record<string, string>;
  readonly conditions?: Record<string, unknown>;
  readonly mappings?: Record<string, Record<string, Record<string, unknown>>>;
  /** `Ref` of a resource in this stack; `undefined` when no such resource exists. */
  ref(logicalId: string): unknown;
  /** `Fn::GetAtt`; throws {@link IntrinsicError} for an unknown resource or attribute. */
  getAtt(logicalId: string, attribute: string): unknown;
  /** `Fn::ImportValue`; throws {@link IntrinsicError} when nothing exports the name. */
  importValue(exportName: string): unknown;
}

/** An intrinsic that cannot be evaluated; `path` says where in the template it sits. */
export class IntrinsicError extends Error {
  override readonly name = 'IntrinsicError';
}

/**
 * The CDK bootstrap version reported for `/cdk-bootstrap/<qualifier>/version` SSM parameters.
 * There is no bootstrap stack locally; CDK's `CheckBootstrapVersion` rule only requires a version
 * above the one the app needs, so any recent number works.
 */
export const LOCAL_BOOTSTRAP_VERSION = '30';

/** Marks a value that `Ref: AWS::NoValue` removed; never escapes {@link resolveIntrinsics}. */
const NO_VALUE = Symbol('AWS::NoValue');

/**
 * Resolves every intrinsic in `value` (deeply) against `scope`.
 *
 * @example
 * resolveIntrinsics({ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::${Bucket}' }, scope);
 * // → 'arn:aws:s3:::local-data-bucket'
 */
export function resolveIntrinsics(value: unknown, scope: IntrinsicScope, path = '$'): unknown {
  const out = resolve(value, scope, path);
  return out === NO_VALUE ? undefined : out;
}

/**
 * Evaluates a named condition of the scope's `Conditions` section.
 *
 * @example
 * evaluateCondition('IsProd', scope); // → false
 */
export function evaluateCondition(name: string, scope: IntrinsicScope): boolean {
  const expr = scope.conditions?.[name];
  if (expr === undefined)
    throw new IntrinsicError(`Condition '${name}' is not defined in stack ${scope.stackName}`);
  const result = resolve(expr, scope, `Conditions.${name}`);
  if (typeof result !== 'boolean') {
    throw new IntrinsicError(
      `Condition '${name}' must evaluate to a boolean, but got ${JSON.stringify(result)}`,
    );
  }
  return result;
}

function resolve(value: unknown, scope: IntrinsicScope, path: string): unknown {
  if (Array.isArray(value)) {
    return value.map((v, i) => resolve(v, scope, `${path}[${i}]`)).filter((v) => v !== NO_VALUE);
  }
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 1) {
    const [key, arg] = entries[0]!;
    const fn = FUNCTIONS[key];
    if (fn) return fn(arg, scope, `${path}.${key}`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) {
    const r = resolve(v, scope, `${path}.${k}`);
    if (r !== NO_VALUE) out[k] = r;
  }
  return out;
}

type IntrinsicFn = (arg: unknown, scope: IntrinsicScope, path: string) => unknown;

const str = (v: unknown, path: string, what: string): string => {
  if (typeof v === 'string') return v;
  // CloudFormation stringifies numbers and booleans where strings are expected (e.g. in Join).
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new IntrinsicError(`${what} at ${path} must be a string, but got ${JSON.stringify(v)}`);
};

const list = (v: unknown, path: string, what: string): unknown[] => {
  if (!Array.isArray(v))
    throw new IntrinsicError(`${what} at ${path} must be a list, but got ${JSON.stringify(v)}`);
  return v;
};

function pseudo(name: string, scope: IntrinsicScope): unknown {
  switch (name) {
    case 'AWS::Region':
      return scope.region;
    case 'AWS::AccountId':
      return scope.accountId;
    case 'AWS::Partition':
      return scope.partition ?? 'aws';
    case 'AWS::URLSuffix':
      return scope.urlSuffix ?? 'amazonaws.com';
    case 'AWS::StackName':
      return scope.stackName;
    case 'AWS::StackId': {
      // Deterministic, so definitions that embed it are stable across `mlops up` runs.
      const id = uuidFrom(scope.stackName);
      return `arn:${scope.partition ?? 'aws'}:cloudformation:${scope.region}:${scope.accountId}:stack/${scope.stackName}/${id}`;
    }
    case 'AWS::NoValue':
      return NO_VALUE;
    case 'AWS::NotificationARNs':
      return [];
    default:
      return undefined;
  }
}

function ref(name: string, scope: IntrinsicScope, path: string): unknown {
  if (name.startsWith('AWS::')) {
    const v = pseudo(name, scope);
    if (v === undefined) throw new IntrinsicError(`Unknown pseudo parameter '${name}' at ${path}`);
    return v;
  }
  const param = scope.parameters?.[name];
  if (param) return parameterValue(name, param, scope, path);
  const r = scope.ref(name);
  if (r === undefined) {
    throw new IntrinsicError(
      `Ref '${name}' at ${path} names no resource or parameter in stack ${scope.stackName}`,
    );
  }
  return r;
}

function parameterValue(
  name: string,
  param: { Type?: string; Default?: unknown },
  scope: IntrinsicScope,
  path: string,
): unknown {
  const given = scope.parameterValues?.[name] ?? param.Default;
  if (given === undefined)
    throw new IntrinsicError(`Parameter '${name}' at ${path} has no value and no default`);
  if (param.Type?.startsWith('AWS::SSM::Parameter::Value<')) {
    // CloudFormation resolves SSM-typed parameters to the parameter's value, not its name.
    const ssmName = String(given);
    const v = scope.ssmParameters?.[ssmName];
    if (v !== undefined) return v;
    if (/^\/cdk-bootstrap\/[^/]+\/version$/.test(ssmName)) return LOCAL_BOOTSTRAP_VERSION;
    throw new IntrinsicError(
      `Parameter '${name}' reads SSM parameter '${ssmName}', which has no local value`,
    );
  }
  if (param.Type === 'CommaDelimitedList' || param.Type?.startsWith('List<')) {
    return typeof given === 'string' ? given.split(',') : given;
  }
  return given;
}

function getAtt(arg: unknown, scope: IntrinsicScope, path: string): unknown {
  let logicalId: string;
  let attribute: string;
  if (typeof arg === 'string') {
    const dot = arg.indexOf('.');
    if (dot < 0)
      throw new IntrinsicError(`Fn::GetAtt at ${path} must be 'Resource.Attribute', but got '${arg}'`);
    logicalId = arg.slice(0, dot);
    attribute = arg.slice(dot + 1);
  } else {
    const [id, attr] = list(arg, path, 'Fn::GetAtt');
    logicalId = str(id, path, 'Fn::GetAtt resource');
    attribute = str(resolve(attr, scope, path), path, 'Fn::GetAtt attribute');
  }
  return scope.getAtt(logicalId, attribute);
}

function sub(arg: unknown, scope: IntrinsicScope, path: string): string {
  let template: string;
  let vars: Record<string, unknown> = {};
  if (typeof arg === 'string') template = arg;
  else {
    const [t, v] = list(arg, path, 'Fn::Sub');
    template = str(t, path, 'Fn::Sub template');
    vars = (resolve(v ?? {}, scope, path) as Record<string, unknown>) ?? {};
  }
  return template.replace(/\$\{([^}]*)\}/g, (_, expr: string) => {
    // `${!Literal}` is CloudFormation's escape for a literal `${Literal}`.
    if (expr.startsWith('!')) return `\${${expr.slice(1)}}`;
    const name = expr.trim();
    if (name in vars) return str(vars[name], path, `Fn::Sub variable '${name}'`);
    if (name.startsWith('AWS::')) return str(ref(name, scope, path), path, name);
    const dot = name.indexOf('.');
    if (dot > 0) return str(scope.getAtt(name.slice(0, dot), name.slice(dot + 1)), path, `\${${name}}`);
    return str(ref(name, scope, path), path, `\${${name}}`);
  });
}

function condition(arg: unknown, scope: IntrinsicScope, path: string): boolean {
  const v = resolve(arg, scope, path);
  if (typeof v === 'boolean') return v;
  // Conditions written as strings ('true') appear in hand-written templates.
  if (v === 'true' || v === 'false') return v === 'true';
  throw new IntrinsicError(`Condition at ${path} must be a boolean, but got ${JSON.stringify(v)}`);
}

const FUNCTIONS: Record<string, IntrinsicFn> = {
  Ref: (arg, scope, path) => ref(str(arg, path, 'Ref'), scope, path),
  'Fn::GetAtt': getAtt,
  'Fn::Join': (arg, scope, path) => {
    const [delim, items] = list(arg, path, 'Fn::Join');
    const resolved = list(resolve(items, scope, path), path, 'Fn::Join values');
    return resolved
      .map((v, i) => str(v, `${path}[${i}]`, 'Fn::Join value'))
      .join(str(delim, path, 'delimiter'));
  },
  'Fn::Sub': sub,
  'Fn::Select': (arg, scope, path) => {
    const [index, items] = list(arg, path, 'Fn::Select');
    const i = Number(resolve(index, scope, path));
    const values = list(resolve(items, scope, path), path, 'Fn::Select values');
    if (!Number.isInteger(i) || i < 0 || i >= values.length) {
      throw new IntrinsicError(
        `Fn::Select index ${i} at ${path} is out of range for ${values.length} values`,
      );
    }
    return values[i];
  },
  'Fn::Split': (arg, scope, path) => {
    const [delim, source] = list(arg, path, 'Fn::Split');
    return str(resolve(source, scope, path), path, 'Fn::Split source').split(str(delim, path, 'delimiter'));
  },
  'Fn::ImportValue': (arg, scope, path) =>
    scope.importValue(str(resolve(arg, scope, path), path, 'Fn::ImportValue')),
  'Fn::Base64': (arg, scope, path) =>
    Buffer.from(str(resolve(arg, scope, path), path, 'Fn::Base64'), 'utf8').toString('base64'),
  'Fn::GetAZs': (arg, scope, path) => {
    const region = str(resolve(arg ?? '', scope, path), path, 'Fn::GetAZs') || scope.region;
    return ['a', 'b', 'c'].map((z) => `${region}${z}`);
  },
  'Fn::FindInMap': (arg, scope, path) => {
    const [map, top, second, opts] = list(arg, path, 'Fn::FindInMap');
    const m = str(resolve(map, scope, path), path, 'map name');
    const k1 = str(resolve(top, scope, path), path, 'top-level key');
    const k2 = str(resolve(second, scope, path), path, 'second-level key');
    const v = scope.mappings?.[m]?.[k1]?.[k2];
    if (v !== undefined) return v;
    // AWS::LanguageExtensions adds a DefaultValue fourth argument.
    const fallback = (opts as { DefaultValue?: unknown } | undefined)?.DefaultValue;
    if (fallback !== undefined) return resolve(fallback, scope, path);
    throw new IntrinsicError(`Fn::FindInMap at ${path}: mapping ${m}.${k1}.${k2} does not exist`);
  },
  'Fn::If': (arg, scope, path) => {
    const [name, whenTrue, whenFalse] = list(arg, path, 'Fn::If');
    const branch = evaluateCondition(str(name, path, 'Fn::If condition'), scope) ? whenTrue : whenFalse;
    return resolve(branch, scope, path);
  },
  Condition: (arg, scope, path) => evaluateCondition(str(arg, path, 'Condition'), scope),
  'Fn::Equals': (arg, scope, path) => {
    const [a, b] = list(resolve(arg, scope, path), path, 'Fn::Equals');
    return JSON.stringify(a) === JSON.stringify(b);
  },
  'Fn::Not': (arg, _scope, path) => {
    const [c] = list(arg, path, 'Fn::Not');
    return !condition(c, _scope, path);
  },
  'Fn::And': (arg, scope, path) =>
    list(arg, path, 'Fn::And').every((c, i) => condition(c, scope, `${path}[${i}]`)),
  'Fn::Or': (arg, scope, path) =>
    list(arg, path, 'Fn::Or').some((c, i) => condition(c, scope, `${path}[${i}]`)),
  'Fn::Contains': (arg, scope, path) => {
    const [values, v] = list(resolve(arg, scope, path), path, 'Fn::Contains');
    return list(values, path, 'Fn::Contains values').some((x) => JSON.stringify(x) === JSON.stringify(v));
  },
  'Fn::ToJsonString': (arg, scope, path) => JSON.stringify(resolve(arg, scope, path)),
  'Fn::Length': (arg, scope, path) => list(resolve(arg, scope, path), path, 'Fn::Length').length,
};

/** A stable RFC 4122-shaped id derived from `seed` (for ids CloudFormation would generate). */
export function uuidFrom(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
