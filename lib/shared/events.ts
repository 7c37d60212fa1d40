/**
 * Validating the event a state machine passes a Lambda step: a malformed event (a definition's
 * mistake, or a step invoked by hand) fails with the step's own error class naming the field, which
 * is what the execution history shows, never as a `TypeError` from inside the step.
 *
 * @example
 * const request = parseEvent(stageEventSchema, event, 'Stage training data', PipelineInputError);
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
  const issue = parsed.error.issues[0]!;
  const field = issue.path.length > 0 ? issue.path.join('.') : 'the event';
  throw new ErrorClass(
    `"${step}" was invoked with a malformed event: ${field}: ${issue.message} (the state machine builds this event; was the step invoked by hand?)`,
  );
}
