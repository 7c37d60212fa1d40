/**
 * The subset of MLflow's search grammar the service supports: clauses `<identifier> <op> <value>`
 * joined by `AND`. Identifiers are `name`, `run_id`, `source_path`, `tags.<k>`, `metrics.<k>`,
 * `params.<k>`, `attributes.<k>` (keys may be quoted with backticks or double quotes); operators
 * `= != < <= > >= LIKE ILIKE IN`; values are quoted strings, numbers or `('a', 'b')` lists.
 * Results are filtered and ordered in memory and paged with MLflow's offset page tokens.
 */
import { invalidParameter } from './errors';

export type FilterEntity = 'attribute' | 'tag' | 'metric' | 'param';
export type FilterOp = '=' | '!=' | '<' | '<=' | '>' | '>=' | 'LIKE' | 'ILIKE' | 'IN' | 'NOT IN';

export interface FilterClause {
  readonly entity: FilterEntity;
  readonly key: string;
  readonly op: FilterOp;
  readonly value: string | number | readonly string[];
}

const TOKEN =
  /\s*(?:(`[^`]*`|"[^"]*"|'(?:[^']|'')*')|(<=|>=|!=|<>|=|<|>|\(|\)|,)|([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![\w.]))|([A-Za-z_]\w*(?:\.(?:[\w-]+|`[^`]*`|"[^"]*"))*))/y;

type Token = { kind: 'quoted' | 'punct' | 'number' | 'word'; text: string };

function tokenize(filter: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  let index = 0;
  while (index < filter.length) {
    if (/^\s*$/.test(filter.slice(index))) break;
    TOKEN.lastIndex = index;
    const m = TOKEN.exec(filter);
    if (!m) throw invalidFilter(filter, `unexpected text at position ${index}`);
    index = TOKEN.lastIndex;
    if (m[1] !== undefined) tokens.push({ kind: 'quoted', text: m[1] });
    else if (m[2] !== undefined) tokens.push({ kind: 'punct', text: m[2] === '<>' ? '!=' : m[2] });
    else if (m[3] !== undefined) tokens.push({ kind: 'number', text: m[3] });
    else tokens.push({ kind: 'word', text: m[4]! });
  }
  return tokens;
}

const invalidFilter = (filter: string, why: string) =>
  invalidParameter(
    `Invalid filter '${filter}': ${why}. Clauses must look like "<identifier> <op> <value>" joined by AND.`,
  );

const unquote = (text: string): string => {
  const q = text[0];
  if (q === "'") return text.slice(1, -1).replaceAll("''", "'");
  if (q === '"' || q === '`') return text.slice(1, -1);
  return text;
};

const ENTITY_PREFIXES: Record<string, FilterEntity> = {
  tags: 'tag',
  tag: 'tag',
  metrics: 'metric',
  metric: 'metric',
  params: 'param',
  param: 'param',
  parameters: 'param',
  attributes: 'attribute',
  attribute: 'attribute',
  attr: 'attribute',
};

function parseIdentifier(filter: string, text: string): { entity: FilterEntity; key: string } {
  const dot = text.indexOf('.');
  if (dot === -1) return { entity: 'attribute', key: text };
  const entity = ENTITY_PREFIXES[text.slice(0, dot).toLowerCase()];
  if (!entity) throw invalidFilter(filter, `unknown identifier '${text}'`);
  return { entity, key: unquote(text.slice(dot + 1)) };
}

/**
 * Parses a filter string; an empty or absent filter is no clause.
 *
 * @example
 * parseFilter("metrics.auc > 0.9 AND params.model = 'enet'");
 * // [{ entity: 'metric', key: 'auc', op: '>', value: 0.9 }, { entity: 'param', key: 'model', op: '=', value: 'enet' }]
 */
export function parseFilter(filter: string | undefined): FilterClause[] {
  if (!filter || filter.trim() === '') return [];
  const tokens = tokenize(filter);
  const clauses: FilterClause[] = [];
  let i = 0;
  const next = () => tokens[i++];
  while (i < tokens.length) {
    const ident = next()!;
    if (ident.kind !== 'word' && ident.kind !== 'quoted')
      throw invalidFilter(filter, `expected an identifier`);
    const { entity, key } =
      ident.kind === 'word'
        ? parseIdentifier(filter, ident.text)
        : { entity: 'attribute' as const, key: unquote(ident.text) };
    let opToken = next();
    if (!opToken) throw invalidFilter(filter, `missing operator after '${ident.text}'`);
    let op: FilterOp;
    const upper = opToken.text.toUpperCase();
    if (opToken.kind === 'punct' && ['=', '!=', '<', '<=', '>', '>='].includes(opToken.text))
      op = opToken.text as FilterOp;
    else if (opToken.kind === 'word' && (upper === 'LIKE' || upper === 'ILIKE' || upper === 'IN'))
      op = upper as FilterOp;
    else if (opToken.kind === 'word' && upper === 'NOT') {
      opToken = next();
      if (opToken?.text.toUpperCase() !== 'IN') throw invalidFilter(filter, `expected IN after NOT`);
      op = 'NOT IN';
    } else throw invalidFilter(filter, `invalid operator '${opToken.text}'`);
    let value: FilterClause['value'];
    if (op === 'IN' || op === 'NOT IN') {
      if (next()?.text !== '(') throw invalidFilter(filter, `expected '(' after ${op}`);
      const list: string[] = [];
      for (;;) {
        const item = next();
        if (!item || (item.kind !== 'quoted' && item.kind !== 'number'))
          throw invalidFilter(filter, 'bad IN list');
        list.push(unquote(item.text));
        const sep = next();
        if (sep?.text === ')') break;
        if (sep?.text !== ',') throw invalidFilter(filter, 'bad IN list');
      }
      value = list;
    } else {
      const v = next();
      if (!v) throw invalidFilter(filter, `missing value after '${opToken.text}'`);
      if (v.kind === 'number') value = Number(v.text);
      else if (v.kind === 'quoted' && v.text[0] !== '`') value = unquote(v.text);
      else throw invalidFilter(filter, `expected a quoted string or a number, got '${v.text}'`);
    }
    clauses.push({ entity, key, op, value });
    if (i < tokens.length) {
      const and = next()!;
      if (and.kind !== 'word' || and.text.toUpperCase() !== 'AND') {
        throw invalidFilter(filter, `expected AND, got '${and.text}' (OR is not supported)`);
      }
      if (i >= tokens.length) throw invalidFilter(filter, 'dangling AND');
    }
  }
  return clauses;
}

/** SQL LIKE: `%` any run, `_` one character; case-insensitive for ILIKE. */
export function likeMatches(value: string, pattern: string, caseInsensitive: boolean): boolean {
  const source = pattern.replace(/[.*+?^${}()|[\]\\%_]/g, (c) =>
    c === '%' ? '.*' : c === '_' ? '.' : `\\${c}`,
  );
  return new RegExp(`^${source}$`, caseInsensitive ? 'is' : 's').test(value);
}

/** Evaluates one clause against an entity's value (`undefined` when the entity lacks the key). */
export function clauseMatches(clause: FilterClause, actual: string | number | undefined): boolean {
  if (actual === undefined) return false;
  const { op, value } = clause;
  if (op === 'IN' || op === 'NOT IN') {
    const hit = (value as readonly string[]).includes(String(actual));
    return op === 'IN' ? hit : !hit;
  }
  if (op === 'LIKE' || op === 'ILIKE') return likeMatches(String(actual), String(value), op === 'ILIKE');
  const [a, b] =
    typeof actual === 'number' || typeof value === 'number'
      ? [Number(actual), Number(value)]
      : [actual, value as string];
  switch (op) {
    case '=':
      return a === b;
    case '!=':
      return a !== b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
  }
}

export interface OrderKey {
  readonly key: string;
  readonly ascending: boolean;
}

/** Parses `order_by` entries like `name`, `last_updated_timestamp DESC`, `metrics.auc ASC`. */
export function parseOrderBy(
  orderBy: readonly string[] | undefined,
  allowed: (key: string) => boolean,
): OrderKey[] {
  return (orderBy ?? []).map((entry) => {
    const m = /^\s*(.+?)(?:\s+(ASC|DESC))?\s*$/i.exec(entry);
    const key = m?.[1]?.replace(/^attributes?\./, '') ?? '';
    if (!m || !allowed(key)) throw invalidParameter(`Invalid order_by clause '${entry}'.`);
    return { key, ascending: (m[2] ?? 'ASC').toUpperCase() === 'ASC' };
  });
}

/** Sorts by the given keys, then by the fallbacks; missing values sort last, as MLflow's SQL store. */
export function sortBy<T>(
  items: T[],
  order: readonly OrderKey[],
  keyValue: (item: T, key: string) => string | number | undefined,
): T[] {
  return items.sort((x, y) => {
    for (const { key, ascending } of order) {
      const a = keyValue(x, key);
      const b = keyValue(y, key);
      if (a === b) continue;
      if (a === undefined) return 1;
      if (b === undefined) return -1;
      const cmp = a < b ? -1 : 1;
      return ascending ? cmp : -cmp;
    }
    return 0;
  });
}

/** MLflow's page token: base64 of `{"offset": n}`. */
export function paginate<T>(
  items: readonly T[],
  maxResults: number,
  pageToken: string | undefined,
): { page: T[]; nextPageToken?: string } {
  let offset = 0;
  if (pageToken) {
    try {
      offset = JSON.parse(Buffer.from(pageToken, 'base64').toString('utf8')).offset;
    } catch {
      throw invalidParameter('Invalid page token, could not base64-decode');
    }
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw invalidParameter('Invalid page token, offset is invalid');
  }
  const page = items.slice(offset, offset + maxResults);
  const end = offset + maxResults;
  return end < items.length
    ? { page, nextPageToken: Buffer.from(JSON.stringify({ offset: end })).toString('base64') }
    : { page };
}

/** Validates `max_results` against an inclusive upper bound, MLflow-style. */
export function checkMaxResults(value: number | undefined, fallback: number, max: number): number {
  const n = value ?? fallback;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    throw invalidParameter(
      `Invalid value ${n} for parameter 'max_results' supplied. It must be at most ${max}.`,
    );
  }
  return n;
}
