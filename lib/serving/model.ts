/**
 * The served form of a kit model: the linear model compiled for the hot path (coefficients in a
 * `Float64Array`, a name → column index map) plus the name and version it is served under.
 *
 * @example
 * const served = compileModel(await loadModelDir('/opt/ml/model'), { name: 'wine-quality', version: '3' });
 * const y = predictBatch(served, Float64Array.from(rowMajorValues), rowCount);
 */
import type { LinearModel } from '../model/format';
import type { Float64Scratch } from './scratch';

/** A model ready to answer requests. */
export interface ServedModel {
  /** The name clients address the model by (OIP path segment, Seldon metadata name). */
  readonly name: string;
  /** The version served, or `undefined` when the server does not do versioning (OIP then omits `model_version`). */
  readonly version: string | undefined;
  /** Feature names in coefficient order. */
  readonly features: readonly string[];
  readonly target: string;
  readonly coefficients: Float64Array;
  readonly intercept: number;
  /** Feature name → column, for requests that name their columns. */
  readonly featureIndex: ReadonlyMap<string, number>;
  /** The model description as loaded, for metadata. */
  readonly description: LinearModel;
}

/** How to serve a model. */
export interface ServeIdentity {
  readonly name: string;
  /** @default - unversioned */
  readonly version?: string;
}

/**
 * Compiles a validated model description for serving.
 *
 * @example
 * const served = compileModel(parseModel(json), { name: 'wine-quality' });
 */
export function compileModel(model: LinearModel, identity: ServeIdentity): ServedModel {
  if (identity.name.length === 0) throw new Error('model name must be non-empty, but "" was provided');
  const featureIndex = new Map<string, number>();
  model.features.forEach((f, i) => {
    featureIndex.set(f, i);
  });
  return {
    name: identity.name,
    version: identity.version === '' ? undefined : identity.version,
    features: model.features,
    target: model.target,
    coefficients: Float64Array.from(model.coefficients),
    intercept: model.intercept,
    featureIndex,
    description: model,
  };
}

/**
 * Predicts `rows` rows stored row-major in `x` (`rows × features` values).
 *
 * Returns `undefined` when a prediction is not finite: JSON cannot carry it, and it can only come
 * from inputs at the edge of the double range, which is the client's mistake to report. With
 * `scratch`, the result is a view of it (valid until its next use).
 *
 * @example
 * const y = predictBatch(served, new Float64Array([7.4, 0.7, 0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56, 9.4]), 1);
 */
export function predictBatch(
  model: ServedModel,
  x: Float64Array,
  rows: number,
  scratch?: Float64Scratch,
): Float64Array | undefined {
  const w = model.coefficients;
  const f = w.length;
  // Every row is written below: no zeroing.
  const out = scratch === undefined ? new Float64Array(rows) : scratch.claim(rows);
  let bad = false;
  for (let r = 0, o = 0; r < rows; r++, o += f) {
    let y = model.intercept;
    for (let j = 0; j < f; j++) y += w[j]! * x[o + j]!;
    out[r] = y;
    // y - y is NaN exactly when y is NaN or ±Infinity.
    if (y - y !== 0) bad = true;
  }
  return bad ? undefined : out;
}

/**
 * Writes numbers as a JSON array body without an intermediate array of strings: `[1,2.5,3]`.
 * `before` and `after` replace the brackets, so a response's fixed text around the array joins it
 * here instead of in more concatenations (each one more node for the socket write to flatten).
 *
 * @example
 * jsonNumbers(new Float64Array([1, 2.5])); // '[1,2.5]'
 * jsonNumbers(new Float64Array([1, 2.5]), '{"y":[', ']}'); // '{"y":[1,2.5]}'
 */
export function jsonNumbers(values: Float64Array, before = '[', after = ']'): string {
  const n = values.length;
  if (n === 0) return before + after;
  // For finite doubles, String(x) is exactly JSON.stringify(x) (ECMA-262 Number::toString).
  let s = before + values[0];
  for (let i = 1; i < n; i++) s += ',' + values[i];
  return s + after;
}
