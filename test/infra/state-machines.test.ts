import { describe, expect, it } from 'vitest';
import { renderDefinitionString, validateAsl } from '../../lib/asl';
import { ENVIRONMENT_NAMES } from '../../lib/config';
import { synthAll } from './synth';

describe.each(ENVIRONMENT_NAMES)('state machines in %s', (name) => {
  const machines = Object.entries(synthAll()[name].templates).flatMap(([stack, t]) =>
    Object.entries(t.findResources('AWS::StepFunctions::StateMachine')).map(([id, r]) => ({
      stack,
      id,
      resource: r,
    })),
  );

  // Later stacks add machines; every one of them is checked here as it lands.
  it.each(machines.map((m) => [`${m.stack}/${m.id}`, m] as const))('%s passes asl-validator', (_, m) => {
    const definition = renderDefinitionString(m.resource['Properties']['DefinitionString']);
    expect(validateAsl(definition)).toEqual({ isValid: true, errors: [] });
    expect(definition['QueryLanguage'] ?? 'JSONPath').toBe('JSONPath');
  });

  // The list above comes from the templates; this holds it against what each environment must
  // run, so an empty or short list (a stack that stopped synthesizing its machine) fails here.
  it('finds the machine of every pipeline the environment runs', () => {
    // BatchInference twice: batch inference and the model-quality check.
    const expected = ['BatchInference', 'BatchInference', 'Drift', 'FeatureStore', 'Release', 'TrainingPipeline', ...(name === 'local' ? [] : ['Serving'])];
    expect(machines.map((m) => m.stack).sort()).toEqual(expected.sort());
    for (const m of machines) expect(typeof m.resource['Properties']['DefinitionString']).toBe('object');
  });
});
