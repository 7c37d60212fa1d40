/**
 * Artifacts written once, one prefix per writer (issue 18), in the synthesized environments: the
 * artifacts bucket's policy refuses a PutObject without `If-None-Match: *` (and under `models/`
 * anyone but the tagged training role), each writer's IAM may put only under its own prefix, and
 * model pods read only `model.tar.gz` objects, never the training and holdout splits.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES, resolveEnvironment } from '../../lib/config';
import { MODEL_WRITER_TAG } from '../../lib/constructs/data-lake';
import { synthAll } from './synth';

const environments = synthAll();

type Statement = { Effect?: string; Action: string | string[]; Resource: unknown; Condition?: unknown; Sid?: string };
const actionsOf = (s: Statement) => [s.Action].flat();

/** Every identity-policy statement of a template, with the logical ids of the roles it is attached to. */
function statements(t: Template): { roles: string; s: Statement }[] {
  return Object.values(t.findResources('AWS::IAM::Policy')).flatMap((p) =>
    (p['Properties']['PolicyDocument']['Statement'] as Statement[]).map((s) => ({ roles: JSON.stringify(p['Properties']['Roles']), s })),
  );
}

/** The key patterns a statement names in the artifacts bucket (`runs/*`, `models/*\/model.tar.gz`, …). */
function artifactKeys(s: Statement): string[] {
  return [s.Resource].flat().flatMap((r) => {
    const text = JSON.stringify(r);
    if (!/Artifacts/.test(text)) return [];
    const join = (r as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
    const tail = join ? join[1].at(-1) : undefined;
    return typeof tail === 'string' ? [tail.replace(/^\//, '')] : ['(bucket)'];
  });
}

describe.each(ENVIRONMENT_NAMES)('write-once artifacts (%s)', (name) => {
  const { templates } = environments[name];
  const config = resolveEnvironment(name, { env: {} });
  const all = Object.entries(templates).flatMap(([stack, t]) => statements(t).map((x) => ({ stack, ...x })));

  it('denies, in the bucket policy, a PutObject without If-None-Match under runs/, data/ and baselines/', () => {
    const policy = Object.values(templates['DataLake']!.findResources('AWS::S3::BucketPolicy')).find((p) =>
      JSON.stringify(p['Properties']['Bucket']).includes('Artifacts'),
    )!;
    const denies = (policy['Properties']['PolicyDocument']['Statement'] as Statement[]).filter((s) => s.Effect === 'Deny');
    const bySid = (sid: string) => denies.find((s) => s.Sid === sid);
    const keys = (s: Statement | undefined) =>
      [s?.Resource].flat().map((r) => (r as { 'Fn::Join': [string, string[]] })['Fn::Join'][1].at(-1));

    const ifNoneMatch = bySid('WriteOnceRequiresIfNoneMatch');
    // Creating requests only (PutObject, CompleteMultipartUpload): the parts of a multipart copy take no condition.
    expect(ifNoneMatch).toMatchObject({
      Action: 's3:PutObject',
      Principal: { AWS: '*' },
      Condition: { Null: { 's3:if-none-match': 'true' }, Bool: { 's3:ObjectCreationOperation': 'true' } },
    });
    expect(keys(ifNoneMatch).sort()).toEqual(['/baselines/*', '/data/*', '/runs/*']);

    const tagged = bySid('OnlyTheTaggedWriter');
    expect(tagged).toMatchObject({
      Action: 's3:PutObject',
      Condition: { StringNotEquals: { [`aws:PrincipalTag/${MODEL_WRITER_TAG.key}`]: MODEL_WRITER_TAG.value } },
    });
    expect(keys(tagged)).toEqual(['/models/*']);

    // Pinned versions stay where the bucket is retained (auto-delete empties a destroyed one).
    const keep = bySid('KeepWriteOnceVersions');
    if (config.removalPolicy === 'retain') expect(actionsOf(keep!)).toEqual(['s3:DeleteObjectVersion']);
    else expect(keep).toBeUndefined();
  });

  it('lets each writer put only under its own prefix, one writer per prefix, and nothing write the whole bucket', () => {
    const writes = all
      .filter(({ s }) => actionsOf(s).includes('s3:PutObject'))
      .flatMap(({ roles, s }) => artifactKeys(s).map((key) => ({ roles, key })));
    const byPrefix = new Map<string, string[]>();
    for (const w of writes) byPrefix.set(w.key, [...(byPrefix.get(w.key) ?? []), w.roles]);
    // releases/ is the release machine's, where an environment receives releases.
    expect([...byPrefix.keys()].filter((k) => k !== 'releases/*').sort()).toEqual(['baselines/*', 'data/*', 'models/*', 'runs/*']);
    for (const [key, roles] of byPrefix) expect(roles, key).toHaveLength(1);
    expect(byPrefix.get('models/*')![0]).toMatch(/TrainingJobRole/);
    expect(byPrefix.get('data/*')![0]).toMatch(/StageFunction/);
    expect(byPrefix.get('baselines/*')![0]).toMatch(/BaselineFunction/);
    expect(byPrefix.get('runs/*')![0]).toMatch(/ValidateFunction/);
  });

  it('tags the training role as the one writer of models/', () => {
    const role = Object.entries(templates['TrainingPipeline']!.findResources('AWS::IAM::Role')).find(([id]) =>
      id.startsWith('TrainingJobRole'),
    )![1];
    expect(role['Properties']['Tags']).toContainEqual({ Key: MODEL_WRITER_TAG.key, Value: MODEL_WRITER_TAG.value });
  });

  it('lets no one but the training pipeline read the training and holdout splits', () => {
    const readers = all
      .filter(({ s }) => actionsOf(s).includes('s3:GetObject'))
      .filter(({ s }) => artifactKeys(s).some((k) => k.startsWith('data/') || k === '*' || k === '(bucket)'))
      .map(({ stack }) => stack);
    expect([...new Set(readers)]).toEqual(['TrainingPipeline']);
  });

  it.runIf(name !== 'local')('lets model pods read model.tar.gz objects only', () => {
    const serving = statements(templates['Serving']!).filter(({ roles }) => roles.includes('ModelServer'));
    const reads = serving.filter(({ s }) => actionsOf(s).includes('s3:GetObject')).flatMap(({ s }) => artifactKeys(s));
    expect(reads.sort()).toEqual(['models/*/model.tar.gz', 'releases/*/model.tar.gz', 'runs/*/model.tar.gz']);
  });
});
