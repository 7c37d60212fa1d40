/**
 * Amazon States Language checks used by the tests and the local runner: asl-validator behind a
 * typed wrapper, and a renderer that turns a synthesized `DefinitionString` (a `Fn::Join` of text
 * and references) into JSON for validation, with each reference replaced by a well-formed ARN.
 *
 * @example
 * const { isValid, errors } = validateAsl(renderDefinitionString(resource.Properties.DefinitionString));
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const aslValidator = require('asl-validator') as (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errors: { message?: string; Message?: string; 'Error code'?: string }[] };

export interface AslResult {
  readonly isValid: boolean;
  readonly errors: string[];
}

export function validateAsl(definition: unknown): AslResult {
  const result = aslValidator(definition, { checkArn: true, checkPaths: true });
  return {
    isValid: result.isValid,
    errors: result.errors.map(
      (e) => `${e['Error code'] ?? 'error'}: ${e.Message ?? e.message ?? JSON.stringify(e)}`,
    ),
  };
}

/**
 * Renders a template's `DefinitionString` to a definition object. A reference (`Ref`,
 * `Fn::GetAtt`, …) becomes `arn:aws:lambda:us-east-1:123456789012:function:<logical id>`, which is
 * valid wherever the definition expects a string, so the validator checks the structure.
 */
export function renderDefinitionString(definitionString: unknown): Record<string, unknown> {
  return JSON.parse(renderPlaceholders(definitionString));
}

const PSEUDO_PARAMETERS: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': 'us-east-1',
  'AWS::AccountId': '123456789012',
  'AWS::URLSuffix': 'amazonaws.com',
};

function renderPlaceholders(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (Array.isArray(obj['Fn::Join'])) {
      const [sep, parts] = obj['Fn::Join'] as [string, unknown[]];
      return parts.map(renderPlaceholders).join(sep);
    }
    const pseudo = typeof obj['Ref'] === 'string' ? PSEUDO_PARAMETERS[obj['Ref'] as string] : undefined;
    if (pseudo !== undefined) return pseudo;
    const ref =
      obj['Ref'] ?? (Array.isArray(obj['Fn::GetAtt']) ? (obj['Fn::GetAtt'] as string[])[0] : undefined);
    const name = typeof ref === 'string' ? ref.replace(/[^A-Za-z0-9-_]/g, '') : 'reference';
    return `arn:aws:lambda:us-east-1:123456789012:function:${name}`;
  }
  throw new Error(`cannot render definition part ${JSON.stringify(value)}`);
}
