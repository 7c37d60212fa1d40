/**
 * EventBridge event patterns, evaluated as EventBridge evaluates them: every field of the pattern
 * must match (a nested object descends into the event), a field's list of conditions matches when
 * any condition matches any of the event's values (an array-valued field is matched element by
 * element), and `$or` takes the first of its sub-patterns that matches.
 *
 * Conditions: a literal (string, number, boolean, null: equal values match), `prefix`, `suffix`
 * and `equals-ignore-case` (strings), `wildcard` (`*` any run of characters), `anything-but` (a
 * value, a list, or a `prefix`/`suffix`/`equals-ignore-case`/`wildcard` it must not match),
 * `numeric` (`=`, `>`, `>=`, `<`, `<=` pairs, numbers only), `exists` (a leaf value present or
 * absent) and `cidr` (IPv4). A pattern using anything else is refused when it is compiled, so a
 * rule never silently matches nothing.
 *
 * @example
 * const promoted = compilePattern({ source: ['mlops-kit.registry'], detail: { $or: [{ stage: ['Production'] }, { alias: ['champion'] }] } });
 * promoted({ source: 'mlops-kit.registry', detail: { alias: 'champion' } }); // true
 */

/** A pattern EventBridge would reject, named with the path of the offending field. */
export class EventPatternError extends Error {
  override readonly name = 'EventPatternError';
}

type Predicate = (value: unknown) => boolean;

/** Compiles `pattern` (an object, or its JSON text) into a predicate over events. */
export function compilePattern(pattern: unknown): (event: unknown) => boolean {
  const parsed = typeof pattern === 'string' ? parseJson(pattern) : pattern;
  if (!isObject(parsed)) {
    throw new EventPatternError(`An event pattern must be a JSON object, but ${describe(parsed)} was provided`);
  }
  return compileObject(parsed, '');
}

/** True when `event` matches `pattern` (compiles it each call; rules keep the compiled form). */
export function matches(pattern: unknown, event: unknown): boolean {
  return compilePattern(pattern)(event);
}

function compileObject(pattern: Record<string, unknown>, path: string): Predicate {
  const checks: Predicate[] = Object.entries(pattern).map(([key, rule]) => {
    const where = path ? `${path}.${key}` : key;
    if (key === '$or') {
      if (!Array.isArray(rule) || rule.length < 2 || !rule.every(isObject)) {
        throw new EventPatternError(`${where} must be a list of at least two objects, but ${describe(rule)} was provided`);
      }
      const alternatives = rule.map((r, i) => compileObject(r as Record<string, unknown>, `${where}[${i}]`));
      return (obj) => alternatives.some((a) => a(obj));
    }
    if (Array.isArray(rule)) {
      if (rule.length === 0) throw new EventPatternError(`${where} must list at least one value, but [] was provided`);
      const conditions = rule.map((c, i) => compileCondition(c, `${where}[${i}]`));
      const existsFalse = conditions.some((c) => c.absent);
      return (obj) => {
        const value = (obj as Record<string, unknown>)[key];
        if (value === undefined) return existsFalse;
        const values = Array.isArray(value) ? value : [value];
        return conditions.some((c) => values.some((v) => c.test(v)));
      };
    }
    if (isObject(rule)) {
      const nested = compileObject(rule, where);
      // A missing or leaf field is an empty object to the fields below it: only `exists: false` can match there.
      return (obj) => {
        const value = (obj as Record<string, unknown>)[key];
        return nested(isObject(value) ? value : {});
      };
    }
    throw new EventPatternError(`${where} must be a list of values or an object, but ${describe(rule)} was provided`);
  });
  return (event) => isObject(event) && checks.every((c) => c(event));
}

interface Condition {
  /** Matches one (leaf) value of the event. */
  test: Predicate;
  /** True for `{"exists": false}`, which matches an absent field. */
  absent?: boolean;
}

function compileCondition(c: unknown, where: string): Condition {
  if (c === null || typeof c === 'string' || typeof c === 'number' || typeof c === 'boolean') {
    return { test: (v) => v === c };
  }
  if (!isObject(c) || Object.keys(c).length !== 1) {
    throw new EventPatternError(`${where} must be a value or an object with one operator, but ${describe(c)} was provided`);
  }
  const [op, arg] = Object.entries(c)[0]!;
  switch (op) {
    case 'exists':
      if (typeof arg !== 'boolean') throw new EventPatternError(`${where}.exists must be true or false, but ${describe(arg)} was provided`);
      // Present means a leaf value: exists does not match an object.
      return arg ? { test: (v) => !isObject(v) } : { test: () => false, absent: true };
    case 'prefix':
    case 'suffix':
    case 'equals-ignore-case':
    case 'wildcard':
      return { test: stringMatcher(op, arg, `${where}.${op}`) };
    case 'anything-but':
      return { test: anythingBut(arg, `${where}.anything-but`) };
    case 'numeric':
      return { test: numeric(arg, `${where}.numeric`) };
    case 'cidr':
      return { test: cidr(arg, `${where}.cidr`) };
    default:
      throw new EventPatternError(
        `${where} must use one of exists, prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, cidr, but '${op}' was provided`,
      );
  }
}

function stringMatcher(op: string, arg: unknown, where: string): Predicate {
  // `prefix` and `suffix` also take `{"equals-ignore-case": "…"}`.
  let ignoreCase = op === 'equals-ignore-case';
  let text = arg;
  if ((op === 'prefix' || op === 'suffix') && isObject(arg) && typeof arg['equals-ignore-case'] === 'string') {
    ignoreCase = true;
    text = arg['equals-ignore-case'];
  }
  if (typeof text !== 'string') throw new EventPatternError(`${where} must be a string, but ${describe(arg)} was provided`);
  const want = ignoreCase ? text.toLowerCase() : text;
  const norm = (v: string) => (ignoreCase ? v.toLowerCase() : v);
  if (op === 'prefix') return (v) => typeof v === 'string' && norm(v).startsWith(want);
  if (op === 'suffix') return (v) => typeof v === 'string' && norm(v).endsWith(want);
  if (op === 'equals-ignore-case') return (v) => typeof v === 'string' && norm(v) === want;
  const re = new RegExp(`^${want.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
  return (v) => typeof v === 'string' && re.test(v);
}

function anythingBut(arg: unknown, where: string): Predicate {
  if (isObject(arg)) {
    const keys = Object.keys(arg);
    const op = keys[0];
    if (keys.length !== 1 || !['prefix', 'suffix', 'equals-ignore-case', 'wildcard'].includes(op!)) {
      throw new EventPatternError(`${where} must be a value, a list, or one of prefix, suffix, equals-ignore-case, wildcard, but ${describe(arg)} was provided`);
    }
    const inner = arg[op!];
    const tests = (Array.isArray(inner) ? inner : [inner]).map((x) => stringMatcher(op!, x, `${where}.${op}`));
    // A non-string never matches the string test, so it is "anything but" it.
    return (v) => !tests.some((t) => t(v));
  }
  const values = Array.isArray(arg) ? arg : [arg];
  if (values.length === 0 || !values.every((x) => typeof x === 'string' || typeof x === 'number')) {
    throw new EventPatternError(`${where} must be a string, a number or a list of them, but ${describe(arg)} was provided`);
  }
  return (v) => !values.includes(v as string | number);
}

const NUMERIC_OPS: Record<string, (a: number, b: number) => boolean> = {
  '=': (a, b) => a === b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
};

function numeric(arg: unknown, where: string): Predicate {
  if (!Array.isArray(arg) || arg.length === 0 || arg.length % 2 !== 0 || arg.length > 4) {
    throw new EventPatternError(`${where} must be one or two [operator, number] pairs, but ${describe(arg)} was provided`);
  }
  const pairs: [(a: number, b: number) => boolean, number][] = [];
  for (let i = 0; i < arg.length; i += 2) {
    const op = NUMERIC_OPS[String(arg[i])];
    const bound = arg[i + 1];
    if (!op || typeof bound !== 'number' || !Number.isFinite(bound)) {
      throw new EventPatternError(
        `${where} must pair an operator (=, >, >=, <, <=) with a number, but ${describe([arg[i], bound])} was provided`,
      );
    }
    pairs.push([op, bound]);
  }
  return (v) => typeof v === 'number' && pairs.every(([op, bound]) => op(v, bound));
}

function cidr(arg: unknown, where: string): Predicate {
  const m = typeof arg === 'string' ? /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(arg) : null;
  const base = m ? ipv4(m[1]!) : undefined;
  const bits = m ? Number(m[2]) : NaN;
  if (base === undefined || !(bits >= 0 && bits <= 32)) {
    throw new EventPatternError(`${where} must be an IPv4 CIDR block (10.0.0.0/24), but ${describe(arg)} was provided`);
  }
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (v) => {
    const ip = typeof v === 'string' ? ipv4(v) : undefined;
    return ip !== undefined && ((ip & mask) >>> 0) === ((base & mask) >>> 0);
  };
}

function ipv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((acc, p) => ((acc << 8) | Number(p)) >>> 0, 0);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new EventPatternError(`An event pattern must be JSON, but it does not parse: ${(err as Error).message}`);
  }
}

function describe(v: unknown): string {
  const text = JSON.stringify(v);
  return text === undefined ? String(v) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
