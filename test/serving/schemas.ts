/** Validators for the vendored protocol specs (test/fixtures/specs), via ajv. */
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';

const dir = new URL('../fixtures/specs/', import.meta.url);
// OpenAPI 3.0 schemas use formats (int32, double, byte) and keywords (example) ajv does not know:
// validate structure and types, not formats.
const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema(
  JSON.parse(readFileSync(new URL('seldon-core-1.17.1-wrapper.oas3.json', dir), 'utf8')),
  'wrapper',
);
ajv.addSchema(
  JSON.parse(readFileSync(new URL('seldon-core-1.17.1-engine.oas3.json', dir), 'utf8')),
  'engine',
);
ajv.addSchema(parse(readFileSync(new URL('open_inference_rest.yaml', dir), 'utf8')), 'oip');

function validator(ref: string): ValidateFunction {
  const v = ajv.getSchema(ref);
  if (v === undefined) throw new Error(`no schema ${ref}`);
  return v;
}

/** Throws with ajv's findings unless `value` matches the schema. */
function check(ref: string, value: unknown): void {
  const v = validator(ref);
  if (!v(value))
    throw new Error(`${ref}: ${ajv.errorsText(v.errors)}\n${JSON.stringify(value).slice(0, 500)}`);
}

export const schemas = {
  /** A SeldonMessage as the model container (wrapper spec) answers it. */
  seldonMessage: (v: unknown) => check('wrapper#/components/schemas/SeldonMessage', v),
  /** A SeldonMessage as the external API (engine spec) answers it. */
  engineMessage: (v: unknown) => check('engine#/components/schemas/SeldonMessage', v),
  seldonFeedback: (v: unknown) => check('wrapper#/components/schemas/Feedback', v),
  oipInferenceRequest: (v: unknown) => check('oip#/components/schemas/inference_request', v),
  oipInferenceResponse: (v: unknown) => check('oip#/components/schemas/inference_response', v),
  oipError: (v: unknown) => check('oip#/components/schemas/inference_error_response', v),
  oipModelMetadata: (v: unknown) => check('oip#/components/schemas/metadata_model_response', v),
  oipServerMetadata: (v: unknown) => check('oip#/components/schemas/metadata_server_response', v),
};
