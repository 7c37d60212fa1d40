/**
 * The local platform finds what it needs in the synthesized local stage through the facts the
 * stacks declare (lib/constructs/platform-facts.ts): machines by role, lake buckets, serving. An
 * assembly that lacks one, or declares it twice, fails with a sentence naming it.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FACT_METADATA_TYPE } from '../../../lib/constructs/platform-facts';
import { readAssembly, type LocalStage } from '../../../lib/local/assembly';
import { compilePattern } from '../../../lib/local/event-pattern';
import { MissingFactError, readFacts } from '../../../lib/local/facts';
import { assemblyDirOf, synthLocalStage } from '../../../lib/local/synth';

const dirs: string[] = [];
let assemblyDir: string;
let stage: LocalStage;

beforeAll(() => {
  const stateDir = mkdtempSync(join(tmpdir(), 'mlops-facts-'));
  dirs.push(stateDir);
  synthLocalStage(stateDir);
  assemblyDir = assemblyDirOf(stateDir);
  stage = readAssembly(assemblyDir);
}, 300_000);
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A copy of the assembly whose fact entries pass through `edit` (entries it drops are gone). */
function editedCopy(edit: (entries: { type: string; data: Record<string, unknown> }[]) => unknown[]): LocalStage {
  const copy = mkdtempSync(join(tmpdir(), 'mlops-facts-copy-'));
  dirs.push(copy);
  cpSync(assemblyDir, copy, { recursive: true });
  const nested = readdirSync(copy).find((d) => d.startsWith('assembly-'))!;
  for (const file of readdirSync(join(copy, nested)).filter((f) => f.endsWith('.metadata.json'))) {
    const path = join(copy, nested, file);
    const metadata = JSON.parse(readFileSync(path, 'utf8')) as Record<string, { type: string; data: Record<string, unknown> }[]>;
    for (const [construct, entries] of Object.entries(metadata)) {
      const facts = entries.filter((e) => e.type === FACT_METADATA_TYPE);
      metadata[construct] = [...entries.filter((e) => e.type !== FACT_METADATA_TYPE), ...(edit(facts) as typeof facts)];
    }
    writeFileSync(path, JSON.stringify(metadata));
  }
  return readAssembly(copy);
}

describe('platform facts of the local stage', () => {
  it('name each state machine by role, with the training input and state names', () => {
    const facts = readFacts(stage);
    const machines = stage.resourcesOfType('AWS::StepFunctions::StateMachine');
    const arnOf = (stack: string) => stage.arn(machines.find((m) => m.stackName.endsWith(stack))!);
    expect(facts.stateMachine('training').arn).toBe(arnOf('TrainingPipeline'));
    expect(facts.stateMachine('materialization').arn).toBe(arnOf('FeatureStore'));
    expect(facts.stateMachine('batch').arn).toBe(arnOf('BatchInference'));
    expect(facts.stateMachine('training')).toMatchObject({
      defaultInput: { model_name: 'wine-quality', dataset: expect.any(String) },
      states: { register: 'Register model', rollback: 'Roll back registration' },
    });
  });

  it("name the lake's four buckets", () => {
    const facts = readFacts(stage);
    const buckets = stage.resourcesOfType('AWS::S3::Bucket').map((b) => stage.physicalName(b));
    const zones = (['raw', 'curated', 'artifacts', 'athenaResults'] as const).map((z) => facts.bucket(z));
    expect(new Set(zones).size).toBe(4);
    for (const z of zones) expect(buckets).toContain(z);
    expect(facts.bucket('raw')).toMatch(/raw/);
  });

  it('give serving its namespace, routes, and the promotion rule on the registry bus', () => {
    const serving = readFacts(stage).serving();
    const bus = stage.resourcesOfType('AWS::Events::EventBus');
    expect(bus).toHaveLength(1);
    expect(serving).toMatchObject({
      namespace: 'seldon',
      routes: ['/seldon/{namespace}/{deployment}/{proxy+}', '/v2/{proxy+}'],
      eventBusName: stage.physicalName(bus[0]!),
    });
    const promoted = compilePattern(serving.promotionEventPattern);
    const event = { source: 'mlops-kit.registry', 'detail-type': 'ModelVersionPromoted' };
    expect(promoted({ ...event, detail: { alias: 'champion' } })).toBe(true);
    expect(promoted({ ...event, detail: { stage: 'Staging' } })).toBe(false);
  });

  it('fails naming the fact when the assembly lacks it', () => {
    const lacking = editedCopy((facts) => facts.filter((f) => f.data['role'] !== 'training'));
    const facts = readFacts(lacking);
    expect(() => facts.stateMachine('training')).toThrow(MissingFactError);
    expect(() => facts.stateMachine('training')).toThrow(
      /declares no training state machine: no construct of stage 'mlops-local' carries 'mlops-kit:fact' metadata/,
    );
    expect(facts.optional.stateMachine('training')).toBeUndefined();
    // the others are still found
    expect(facts.stateMachine('batch').arn).toMatch(/^arn:aws:states:/);
    const noServing = readFacts(editedCopy((f) => f.filter((x) => x.data['fact'] !== 'serving')));
    expect(() => noServing.serving()).toThrow(/declares no serving \(namespace, routes, promotion rule\)/);
  });

  it('fails naming both constructs when a fact is declared twice', () => {
    const twice = readFacts(editedCopy((facts) => facts.flatMap((f) => (f.data['role'] === 'raw' ? [f, f] : [f]))));
    expect(() => twice.bucket('raw')).toThrow(/must declare one raw bucket, but 2 constructs declare it: .*Lake\/Raw, .*Lake\/Raw/);
  });
});
