import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type LocalStage, listStages, readAssembly } from '../../../lib/local/assembly';
import { FIXTURE, synthFixture } from './fixture-app';

describe('readAssembly on a synthesized CDK app', () => {
  let dir: string;
  let stage: LocalStage;

  beforeAll(() => {
    dir = synthFixture();
    stage = readAssembly(dir, { stage: FIXTURE.stage });
  });

  it('finds the stage and its stacks with the stage environment', () => {
    expect(listStages(dir)).toEqual([FIXTURE.stage]);
    expect(stage.stacks.map((s) => s.stackName).sort()).toEqual(['Local-Data', 'Local-Pipeline']);
    expect(stage.account).toBe(FIXTURE.account);
    expect(stage.region).toBe(FIXTURE.region);
  });

  it('fails if the stage does not exist, listing the stages there are', () => {
    expect(() => readAssembly(dir, { stage: 'Nope' })).toThrow(/Stage 'Nope'.*its stages are: Local/);
  });

  it('models resources with type, construct path and resolved properties', () => {
    const bucket = stage.resourceAt('Local/Data/Lake');
    expect(bucket?.type).toBe('AWS::S3::Bucket');
    expect(bucket?.constructPath).toBe('Local/Data/Lake/Resource');
    const table = stage.resourcesOfType('AWS::Glue::Table')[0]!;
    const props = stage.properties(table) as { TableInput: { StorageDescriptor: { Location: string } } };
    expect(props.TableInput.StorageDescriptor.Location).toBe(`s3://${stage.physicalName(bucket!)}/raw/wine/`);
  });

  it('gives deterministic local names within the service limits, honouring explicit names', () => {
    const bucket = stage.resourceAt('Local/Data/Lake')!;
    const name = stage.physicalName(bucket);
    expect(name).toMatch(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/);
    expect(name).toBe(`local-data-${bucket.logicalId.toLowerCase()}`);
    expect(readAssembly(dir, { stage: FIXTURE.stage }).physicalName(bucket)).toBe(name);
    expect(stage.physicalName(stage.resourceAt('Local/Pipeline/RecordFailure')!)).toBe('record-failure');
    expect(stage.physicalName(stage.resourcesOfType('AWS::Glue::Database')[0]!)).toBe(FIXTURE.database);
    expect(stage.physicalName(stage.resourcesOfType('AWS::Athena::WorkGroup')[0]!)).toBe(FIXTURE.workGroup);
  });

  it('returns Ref and GetAtt values shaped as CloudFormation returns them', () => {
    const table = stage.resourceAt('Local/Data/Runs')!;
    const machine = stage.resourceAt('Local/Pipeline/Training')!;
    const fn = stage.resourceAt('Local/Pipeline/Score')!;
    const name = stage.physicalName(table);
    expect(stage.ref(table)).toBe(name);
    expect(stage.arn(table)).toBe(`arn:aws:dynamodb:us-east-1:000000000000:table/${name}`);
    expect(String(stage.getAtt(table, 'StreamArn'))).toMatch(new RegExp(`table/${name}/stream/`));
    expect(stage.ref(machine)).toBe(
      `arn:aws:states:us-east-1:000000000000:stateMachine:${stage.physicalName(machine)}`,
    );
    expect(stage.getAtt(machine, 'Name')).toBe(stage.physicalName(machine));
    expect(stage.arn(fn)).toBe(`arn:aws:lambda:us-east-1:000000000000:function:${stage.physicalName(fn)}`);
    const bucket = stage.resourceAt('Local/Data/Lake')!;
    expect(stage.getAtt(bucket, 'RegionalDomainName')).toBe(
      `${stage.physicalName(bucket)}.s3.us-east-1.amazonaws.com`,
    );
  });

  it('fails if an attribute is not modelled, naming the resource and the attribute', () => {
    const bucket = stage.resourceAt('Local/Data/Lake')!;
    expect(() => stage.getAtt(bucket, 'Bogus')).toThrow(
      /Lake5F1B88EA\.Bogus \(AWS::S3::Bucket in stack Local-Data\)/,
    );
  });

  it('resolves Fn::ImportValue across the stage through the exports', () => {
    const bucketName = stage.physicalName(stage.resourceAt('Local/Data/Lake')!);
    expect(stage.exports().get('LakeBucketName')).toBe(bucketName);
    const fn = stage.resourceAt('Local/Pipeline/Score')!;
    const env = (stage.properties(fn) as { Environment: { Variables: Record<string, string> } }).Environment
      .Variables;
    expect(env['BUCKET']).toBe(bucketName);
    expect(env['TABLE']).toBe(stage.physicalName(stage.resourceAt('Local/Data/Runs')!));
  });

  it('points Lambda code assets at the asset directory in the assembly', () => {
    const fn = stage.resourceAt('Local/Pipeline/Packaged')!;
    expect(fn.asset?.property).toBe('Code');
    expect(readFileSync(join(fn.asset!.path, 'index.js'), 'utf8')).toContain('packaged: true');
  });

  it('falls back to the metadata and asset manifests when templates carry no CDK metadata', () => {
    const bare = readAssembly(synthFixture({ metadata: false }), { stage: FIXTURE.stage });
    const fn = bare.resources.find(
      (r) => r.type === 'AWS::Lambda::Function' && r.logicalId.startsWith('Packaged'),
    )!;
    expect(fn.metadata['aws:cdk:path']).toBeUndefined();
    expect(fn.constructPath).toBe('Local/Pipeline/Packaged/Resource');
    expect(existsSync(join(fn.asset!.path, 'index.js'))).toBe(true);
  });
});
