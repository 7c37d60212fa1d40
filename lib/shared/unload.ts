/**
 * An Athena UNLOAD written once per attempt: Athena's UNLOAD refuses a location that holds any
 * object (HIVE_PATH_ALREADY_EXISTS) and leaves what a failed query wrote in place, so a step that
 * Step Functions retries, or that a redriven execution runs again, cannot UNLOAD where an earlier
 * attempt wrote. Each attempt therefore writes under a folder of its own below the run's location,
 * `<location>attempt-<redrive count>-<retry count>/`, named by the Task itself from the context
 * object (`$$.Execution.RedriveCount`, `$$.State.RetryCount`), which it also returns: the readers
 * that follow read that one folder, the attempt that succeeded, never a failed attempt's parts.
 *
 * The plan carries the query cut around the attempt's folder name (`head` + attempt + `tail`), so
 * the Task assembles it with `States.Format` and no SQL text is ever parsed.
 *
 * @example
 * const u = attemptUnload("SELECT 1 AS x", 's3://curated/splits/t/run-1/train/', 'PARQUET');
 * unloadAt(u, 'attempt-0-1'); // "UNLOAD (SELECT 1 AS x) TO 's3://curated/splits/t/run-1/train/attempt-0-1/' WITH (format = 'PARQUET')"
 * attemptLocation(u.location, 'attempt-0-1'); // 's3://curated/splits/t/run-1/train/attempt-0-1/'
 */
import { literal } from './sql';

export interface AttemptUnload {
  /** `UNLOAD (…) TO '<location>`: the query up to the attempt's folder name. */
  readonly head: string;
  /** `/' WITH (…)`: the query after the attempt's folder name. */
  readonly tail: string;
  /** `s3://…/`: the run's folder; each attempt writes to its own `<location><attempt>/`. */
  readonly location: string;
}

/** The folder name of an attempt: `attempt-<redrive count>-<retry count>`. */
export const ATTEMPT_NAME = /^attempt-\d+-\d+$/;

/** Where the attempt's name goes, while the query is written whole and then cut. */
const CUT = String.fromCharCode(0);

/**
 * `UNLOAD (<select>) TO '<location><attempt>/' WITH (format = '<format>')`, cut around the attempt
 * (a `'` in `location` is doubled in the SQL literal). `location` must be an `s3://` prefix ending in `/`.
 */
export function attemptUnload(select: string, location: string, format: 'PARQUET' | 'JSON'): AttemptUnload {
  if (!/^s3:\/\/[^/]+\//.test(location) || !location.endsWith('/') || location.includes(CUT)) {
    throw new Error(`an UNLOAD location must be an s3:// prefix ending in '/', but ${JSON.stringify(location)} was provided`);
  }
  if (select.includes(CUT)) throw new Error('an UNLOAD select must not hold a NUL character');
  const whole = `UNLOAD (${select}) TO ${literal(`${location}${CUT}/`)} WITH (format = ${literal(format)})`;
  const [head, tail] = whole.split(CUT) as [string, string];
  return { head, tail, location };
}

/** The whole query of one attempt (what the Task's `States.Format` builds). */
export function unloadAt(unload: AttemptUnload, attempt: string): string {
  return `${unload.head}${checked(attempt)}${unload.tail}`;
}

/** Where an attempt wrote: `<location><attempt>/`. */
export function attemptLocation(location: string, attempt: string): string {
  return `${location}${checked(attempt)}/`;
}

function checked(attempt: string): string {
  if (!ATTEMPT_NAME.test(attempt)) {
    throw new Error(`an UNLOAD attempt is named attempt-<redrive>-<retry>, but ${JSON.stringify(attempt)} was provided`);
  }
  return attempt;
}
