/**
 * The three error shapes of Feast's feature server, each carrying its HTTP status and exact body,
 * so the HTTP adapter only copies them out:
 *
 * - `FeastError`: a `feast.errors` exception; body is a JSON *string* holding
 *   `{"module": …, "class": …, "message": …}` (Feast's `to_error_detail`, a `json.dumps` result).
 * - `PlainError`: any other Python exception (ValueError, KeyError); 500, body the JSON string of
 *   the message.
 * - `RequestValidationError`: FastAPI's 422 `{"detail": [{type, loc, msg, input}]}`.
 */

/** Base of the errors the server maps to responses; anything else is an internal error (500). */
export abstract class FeatureServerError extends Error {
  abstract readonly status: number;
  /** The response body, serialised. */
  abstract body(): string;
}

/**
 * A `feast.errors` exception.
 *
 * @example
 * new FeastError('FeatureViewNotFoundException', 'Feature view nope does not exist in project p', 404).body();
 * // '"{\"module\": \"feast.errors\", \"class\": \"FeatureViewNotFoundException\", …}"'
 */
export class FeastError extends FeatureServerError {
  override readonly name = 'FeastError';
  constructor(
    readonly className: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }

  /** Feast's `to_error_detail()`: `json.dumps({"module", "class", "message"})` with its spacing. */
  detail(): string {
    return pythonJsonDumps({ module: 'feast.errors', class: this.className, message: this.message });
  }

  body(): string {
    return JSON.stringify(this.detail());
  }
}

/** A non-Feast exception (ValueError …): Feast answers 500 with the message as a JSON string. */
export class PlainError extends FeatureServerError {
  override readonly name = 'PlainError';
  readonly status = 500;
  body(): string {
    return JSON.stringify(this.message);
  }
}

/** One entry of FastAPI's validation `detail` list. */
export interface ValidationIssue {
  readonly type: string;
  readonly loc: readonly (string | number)[];
  readonly msg: string;
  readonly input: unknown;
  readonly ctx?: Readonly<Record<string, unknown>>;
}

/** The most issues a validation error reports. */
export const MAX_ISSUES = 100;

/** FastAPI's request validation error: 422 (or another 4xx, e.g. 413 for oversized bodies). */
export class RequestValidationError extends FeatureServerError {
  override readonly name = 'RequestValidationError';
  readonly issues: readonly ValidationIssue[];
  constructor(
    issues: readonly ValidationIssue[],
    readonly status = 422,
  ) {
    // A 5,000-row request with a bad value in every row would echo them all back; the first
    // hundred say enough.
    const kept = issues.slice(0, MAX_ISSUES);
    super(kept.map((i) => `${i.loc.join('.')}: ${i.msg}`).join('; '));
    this.issues = kept;
  }

  body(): string {
    return JSON.stringify({ detail: this.issues });
  }
}

/** Feast's 404 for a feature view that is not defined. */
export const featureViewNotFound = (name: string, project: string) =>
  new FeastError(
    'FeatureViewNotFoundException',
    `Feature view ${name} does not exist in project ${project}`,
    404,
  );

/** Feast's 404 for a feature service that is not defined. */
export const featureServiceNotFound = (name: string, project: string) =>
  new FeastError(
    'FeatureServiceNotFoundException',
    `Feature service ${name} does not exist in project ${project}`,
    404,
  );

/** Feast's 422 for an unknown push source. */
export const pushSourceNotFound = (name: string) =>
  new FeastError('PushSourceNotFoundException', `Unable to find push source '${name}'.`, 422);

// Python's json.dumps defaults: ', ' and ': ' separators, non-ASCII escaped as \uXXXX.
function pythonJsonDumps(obj: Record<string, string>): string {
  const ascii = (s: string) =>
    JSON.stringify(s).replace(
      /[\u007f-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
  return `{${Object.entries(obj)
    .map(([k, v]) => `${ascii(k)}: ${ascii(v)}`)
    .join(', ')}}`;
}
