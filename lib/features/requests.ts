/**
 * Request models of the feature server, mirroring Feast's pydantic models
 * (`GetOnlineFeaturesRequest`, `PushFeaturesRequest`), and the translation of zod issues into
 * FastAPI's 422 `detail` entries so clients see the shape they get from Feast.
 */
import { z } from 'zod';
import { RequestValidationError, type ValidationIssue } from './errors';

/** Feast's `GetOnlineFeaturesRequest`. */
export const getOnlineFeaturesRequestSchema = z.object({
  entities: z.record(z.string(), z.array(z.unknown())),
  feature_service: z.string().nullish(),
  features: z.array(z.string()).default([]),
  full_feature_names: z.boolean().default(false),
  include_feature_view_version_metadata: z.boolean().default(false),
});
export type GetOnlineFeaturesRequest = z.input<typeof getOnlineFeaturesRequestSchema>;

/** The push destinations Feast accepts; checked by the server, not the schema (Feast answers 500). */
export const PUSH_MODES = ['online', 'offline', 'online_and_offline'] as const;

/** Feast's `PushFeaturesRequest`. */
export const pushRequestSchema = z.object({
  push_source_name: z.string(),
  df: z.record(z.string(), z.array(z.unknown())),
  allow_registry_cache: z.boolean().default(true),
  to: z.string().default('online'),
  transform_on_write: z.boolean().default(true),
});
export type PushRequest = z.input<typeof pushRequestSchema>;

/**
 * Parses a decoded JSON body with a schema; on failure throws FastAPI's 422 with `loc` starting
 * at `"body"`.
 *
 * @example
 * parseBody(pushRequestSchema, { df: {} }); // throws RequestValidationError, detail[0].loc = ['body', 'push_source_name']
 */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new RequestValidationError([
      {
        type: 'model_attributes_type',
        loc: ['body'],
        msg: 'Input should be a valid dictionary or object to extract fields from',
        input: body,
      },
    ]);
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw new RequestValidationError(parsed.error.issues.map((issue) => toFastApiIssue(issue, body)));
}

function toFastApiIssue(issue: z.core.$ZodIssue, body: unknown): ValidationIssue {
  const path = issue.path.map((p) => (typeof p === 'number' ? p : String(p)));
  const input = path.reduce<unknown>(
    (at, key) => (at !== null && typeof at === 'object' ? (at as Record<string, unknown>)[key] : undefined),
    body,
  );
  const loc = ['body', ...path];
  if (issue.code === 'invalid_type') {
    if (input === undefined) return { type: 'missing', loc, msg: 'Field required', input: null };
    const expected = issue.expected as string;
    const named: Record<string, [string, string]> = {
      array: ['list_type', 'Input should be a valid list'],
      record: ['dict_type', 'Input should be a valid dictionary'],
      object: ['dict_type', 'Input should be a valid dictionary'],
      string: ['string_type', 'Input should be a valid string'],
      boolean: ['bool_type', 'Input should be a valid boolean'],
    };
    const [type, msg] = named[expected] ?? [`${expected}_type`, issue.message];
    return { type, loc, msg, input };
  }
  return { type: issue.code, loc, msg: issue.message, input };
}
