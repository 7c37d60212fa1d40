/**
 * Validating the event a state machine passes a Lambda step: a malformed event (a definition's
 * mistake, or a step invoked by hand) fails with the step's own error class naming the field, which
 * is what the execution history shows, never as a `TypeError` from inside the step.
 *
 * @example
 * const request = parseEvent(stageEventSchema, event, 'Stage training data', PipelineInputError);
 * // PipelineInputError: "Stage training data" was invoked with a malformed event: train.result
 * //   must be an s3://bucket/key URI, but "results/q1.csv" was provided
 */
import type { z } from 'zod';

export function parseEvent<T extends z.ZodType>(
  schema: T,
  event: unknown,
  step: string,
  ErrorClass: new (message: string) => Error,
): z.infer<T> {
  const parsed = schema.safeParse(event);
  if (parsed.success) return parsed.data;
  throw new ErrorClass(`"${step}" was invoked with a malformed event: ${describeIssue(parsed.error.issues[0]!, event)}`);
}

/** One zod issue as "X must be …, but Y was provided". */
export function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const field = issue.path.length > 0 ? issue.path.join('.') : 'the event';
  const value = issue.path.reduce<unknown>(
    (at, key) => (at !== null && typeof at === 'object' ? (at as Record<PropertyKey, unknown>)[key] : undefined),
    input,
  );
  const provided = value === undefined ? 'nothing was provided' : `${show(value)} was provided`;
  if (issue.code === 'invalid_type') {
    const expected = issue.expected === 'nonoptional' ? 'set' : `${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
    return `${field} must be ${expected}, but ${provided}`;
  }
  const rule = issue.message.startsWith('must') ? issue.message : `is invalid (${issue.message})`;
  return `${field} ${rule}, but ${provided}`;
}

function show(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : json.length > 80 ? `${json.slice(0, 77)}...` : json;
}
