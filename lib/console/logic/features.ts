/**
 * The Features page as data: TTLs and materialization windows in words, the entity lookup form
 * turned into a `/get-online-features` request (values checked against the join key's type before
 * anything is sent), and the answer turned into one row per entity.
 */
import type { FeastFeatureService, FeastFeatureView, FeastValueType } from '../api/feast-types';

/**
 * A protobuf Duration (`"86400s"`) in words; `"0s"` (or none) is Feast's "no expiry".
 *
 * @example
 * ttlText('31536000s'); // '365 d'
 */
export function ttlText(ttl: string | undefined): string {
  const seconds = ttl ? Number(/^(\d+(?:\.\d+)?)s$/.exec(ttl)?.[1]) : 0;
  if (!Number.isFinite(seconds) || seconds <= 0) return 'no expiry';
  const units: [number, string][] = [
    [86_400, 'd'],
    [3_600, 'h'],
    [60, 'min'],
  ];
  for (const [size, unit] of units) if (seconds >= size && seconds % size === 0) return `${seconds / size} ${unit}`;
  return `${seconds} s`;
}

/** The last materialization window of a view, or undefined when it was never materialized. */
export function lastWindow(view: FeastFeatureView): { start: string; end: string } | undefined {
  const intervals = view.meta?.materializationIntervals ?? [];
  const last = [...intervals].sort((a, b) => (a.endTime < b.endTime ? -1 : 1)).at(-1);
  return last ? { start: last.startTime, end: last.endTime } : undefined;
}

/** The join keys a lookup of a service needs, with their types, from the views it projects. */
export function serviceJoinKeys(
  service: FeastFeatureService,
  views: readonly FeastFeatureView[],
): { name: string; valueType: FeastValueType }[] {
  const keys = new Map<string, FeastValueType>();
  for (const p of service.spec.features ?? []) {
    const view = views.find((v) => v.spec.name === p.featureViewName);
    for (const c of view?.spec.entityColumns ?? []) keys.set(c.name, c.valueType);
  }
  return [...keys].map(([name, valueType]) => ({ name, valueType }));
}

/**
 * Parses the lookup form's comma-separated entity values for a join key of the given type.
 *
 * @returns the values, or the sentence naming the first bad one.
 * @example
 * parseEntityValues('wine_id', 'INT64', '1, 2'); // { values: [1, 2] }
 * parseEntityValues('wine_id', 'INT64', '1, x'); // { problem: "wine_id must be an integer, but 'x' was provided" }
 */
export function parseEntityValues(
  joinKey: string,
  type: FeastValueType,
  text: string,
): { values: (string | number | boolean)[] } | { problem: string } {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (parts.length === 0) return { problem: `${joinKey} must have at least one value, but none was provided` };
  const values: (string | number | boolean)[] = [];
  for (const p of parts) {
    switch (type) {
      case 'INT32':
      case 'INT64':
      case 'UNIX_TIMESTAMP':
        if (!/^-?\d+$/.test(p) || !Number.isSafeInteger(Number(p))) {
          return { problem: `${joinKey} must be an integer, but '${p}' was provided` };
        }
        values.push(Number(p));
        break;
      case 'FLOAT':
      case 'DOUBLE':
        if (p === '' || !Number.isFinite(Number(p))) return { problem: `${joinKey} must be a number, but '${p}' was provided` };
        values.push(Number(p));
        break;
      case 'BOOL':
        if (p !== 'true' && p !== 'false') return { problem: `${joinKey} must be true or false, but '${p}' was provided` };
        values.push(p === 'true');
        break;
      default:
        values.push(p);
    }
  }
  return { values };
}

/** One entity's row of a lookup answer: its key values, then each feature's value and status. */
export interface LookupRow {
  readonly key: string;
  readonly cells: readonly { readonly feature: string; readonly value: unknown; readonly status: string }[];
}

/**
 * Turns Feast's column-wise answer (one result per feature name, one value per entity) into one
 * row per entity. The join keys come first in Feast's answer and become the row's key.
 */
export function lookupRows(
  response: { metadata: { feature_names: readonly string[] }; results: readonly { values: readonly unknown[]; statuses: readonly string[] }[] },
  joinKeys: readonly string[],
): LookupRow[] {
  const names = response.metadata.feature_names;
  const count = response.results[0]?.values.length ?? 0;
  const keyIdx = names.map((n, i) => (joinKeys.includes(n) ? i : -1)).filter((i) => i >= 0);
  const rows: LookupRow[] = [];
  for (let e = 0; e < count; e++) {
    rows.push({
      key: keyIdx.map((i) => `${names[i]}=${String(response.results[i]?.values[e])}`).join(', '),
      cells: names.flatMap((feature, i) =>
        keyIdx.includes(i)
          ? []
          : [{ feature, value: response.results[i]?.values[e], status: response.results[i]?.statuses[e] ?? '' }],
      ),
    });
  }
  return rows;
}
