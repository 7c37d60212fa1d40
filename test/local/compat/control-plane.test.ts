/**
 * The read-only control-plane lists over a small synthesized stage with rules on two buses, an
 * activity and two work groups: filters, paging and the services' error codes, in process (the
 * wire side is in clients.test.ts), plus the JSON protocol's paging helper on its own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Stage } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as events from 'aws-cdk-lib/aws-events';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { afterAll, describe, expect, it } from 'vitest';
import { type LocalStage, readAssembly } from '../../../lib/local/assembly';
import { catalogFromAssembly } from '../../../lib/local/athena';
import type { QueryExecution } from '../../../lib/local/athena/engine';
import { paginate, startAwsEndpoint } from '../../../lib/local/aws-endpoint';
import {
  athenaLists,
  callerIdentityXml,
  eventBridgeLists,
  lambdaConfiguration,
  stepFunctionsLists,
} from '../../../lib/local/control-plane';

const outdir = mkdtempSync(join(tmpdir(), 'mlops-control-plane-'));
const stage: LocalStage = (() => {
  const app = new App({ outdir });
  const s = new Stage(app, 'cp', { env: { account: '111122223333', region: 'eu-west-1' } });
  const stack = new Stack(s, 'Ops');
  const bus = new events.EventBus(stack, 'Bus', { eventBusName: 'platform' });
  for (const name of ['alpha-one', 'alpha-two', 'beta']) {
    new events.Rule(stack, name, { ruleName: name, eventPattern: { source: [name] } });
  }
  new events.Rule(stack, 'OnBus', { ruleName: 'on-bus', eventBus: bus, eventPattern: { source: ['x'] }, enabled: false });
  new sfn.Activity(stack, 'Approve', { activityName: 'approve' });
  new athena.CfnWorkGroup(stack, 'Wg', { name: 'analytics' });
  app.synth();
  return readAssembly(outdir, { stage: 'cp' });
})();
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

const executions: QueryExecution[] = [
  { QueryExecutionId: 'q-new', WorkGroup: 'analytics' } as QueryExecution,
  { QueryExecutionId: 'q-primary', WorkGroup: 'primary' } as QueryExecution,
  { QueryExecutionId: 'q-old', WorkGroup: 'analytics' } as QueryExecution,
];
const sources = { stage, catalog: catalogFromAssembly(stage), queryExecutions: () => executions };

describe('EventBridge ListRules', () => {
  const { ListRules } = eventBridgeLists(stage);

  it("lists the default bus's rules by name, with NamePrefix, and another bus's by EventBusName", async () => {
    const all = (await ListRules({})) as { Rules: { Name: string; State: string; EventPattern: string; Arn: string }[] };
    expect(all.Rules.map((r) => r.Name)).toEqual(['alpha-one', 'alpha-two', 'beta']);
    expect(all.Rules[0]).toMatchObject({
      State: 'ENABLED',
      EventBusName: 'default',
      Arn: 'arn:aws:events:eu-west-1:111122223333:rule/alpha-one',
    });
    expect(JSON.parse(all.Rules[0]!.EventPattern)).toEqual({ source: ['alpha-one'] });
    expect(((await ListRules({ NamePrefix: 'alpha' })) as { Rules: { Name: string }[] }).Rules.map((r) => r.Name)).toEqual([
      'alpha-one',
      'alpha-two',
    ]);
    expect(await ListRules({ EventBusName: 'platform' })).toMatchObject({
      Rules: [{ Name: 'on-bus', State: 'DISABLED', EventBusName: 'platform' }],
    });
  });

  it('pages with Limit/NextToken and refuses a token of another listing', async () => {
    const first = (await ListRules({ Limit: 2 })) as { Rules: { Name: string }[]; NextToken: string };
    expect(first.Rules.map((r) => r.Name)).toEqual(['alpha-one', 'alpha-two']);
    const second = (await ListRules({ Limit: 2, NextToken: first.NextToken })) as { Rules: { Name: string }[]; NextToken?: string };
    expect(second).toEqual({ Rules: [expect.objectContaining({ Name: 'beta' })] });
    await expect(async () => ListRules({ NamePrefix: 'alpha', NextToken: first.NextToken })).rejects.toMatchObject({
      code: 'ValidationException',
    });
    await expect(async () => ListRules({ Limit: 0 })).rejects.toMatchObject({ code: 'ValidationException' });
  });
});

describe('Step Functions ListActivities', () => {
  it("lists the stage's activities", async () => {
    expect(await stepFunctionsLists(stage).ListActivities({})).toEqual({
      activities: [
        { activityArn: 'arn:aws:states:eu-west-1:111122223333:activity:approve', name: 'approve', creationDate: new Date(0) },
      ],
    });
  });
});

describe('Athena ListWorkGroups, ListQueryExecutions and BatchGetQueryExecution', () => {
  const api = athenaLists(sources);

  it('lists primary and the stage’s work groups', async () => {
    const { WorkGroups } = (await api.ListWorkGroups!({})) as { WorkGroups: { Name: string; State: string }[] };
    expect(WorkGroups.map((w) => w.Name)).toEqual(['analytics', 'primary']);
    expect(WorkGroups.every((w) => w.State === 'ENABLED')).toBe(true);
  });

  it("lists one work group's executions (primary by default), newest first, in pages", async () => {
    expect(await api.ListQueryExecutions!({})).toEqual({ QueryExecutionIds: ['q-primary'] });
    const first = (await api.ListQueryExecutions!({ WorkGroup: 'analytics', MaxResults: 1 })) as { QueryExecutionIds: string[]; NextToken: string };
    expect(first.QueryExecutionIds).toEqual(['q-new']);
    expect(await api.ListQueryExecutions!({ WorkGroup: 'analytics', MaxResults: 1, NextToken: first.NextToken })).toEqual({
      QueryExecutionIds: ['q-old'],
    });
    await expect(async () => api.ListQueryExecutions!({ WorkGroup: 'nope' })).rejects.toMatchObject({
      code: 'InvalidRequestException',
      message: 'WorkGroup nope is not found.',
    });
    await expect(async () => api.ListQueryExecutions!({ WorkGroup: 5 })).rejects.toMatchObject({ code: 'InvalidRequestException' });
  });

  it('answers a batch of executions in the order asked, once each, and lists the unknown ones as unprocessed', async () => {
    const answer = (await api.BatchGetQueryExecution!({ QueryExecutionIds: ['q-old', 'nope', 'q-new', 'q-old'] })) as {
      QueryExecutions: QueryExecution[];
      UnprocessedQueryExecutionIds: { QueryExecutionId: string; ErrorMessage: string }[];
    };
    expect(answer.QueryExecutions).toEqual([executions[2], executions[0]]);
    expect(answer.QueryExecutions[0]).not.toBe(executions[2]); // a copy: the caller cannot change the engine's record
    expect(answer.UnprocessedQueryExecutionIds).toEqual([
      { QueryExecutionId: 'nope', ErrorMessage: "Query execution nope is not known to this platform's Athena." },
    ]);
  });

  it.each([
    ['none', {}, /'queryExecutionIds' .* but none was provided$/],
    ['an empty list', { QueryExecutionIds: [] }, /list of 1 to 50 .* but 0 were provided$/],
    ['51 ids', { QueryExecutionIds: Array.from({ length: 51 }, (_, i) => `q-${i}`) }, /but 51 were provided$/],
    ['a string', { QueryExecutionIds: 'q-new' }, /but "q-new" was provided$/],
    ['a number in the list', { QueryExecutionIds: ['q-new', 7] }, /'queryExecutionIds\.2\.member' .* but 7 was provided$/],
    ['an empty id', { QueryExecutionIds: [''] }, /'queryExecutionIds\.1\.member' .* but "" was provided$/],
    ['an id with a space', { QueryExecutionIds: ['q new'] }, /but "q new" was provided$/],
    ['an id of 129 characters', { QueryExecutionIds: ['q'.repeat(129)] }, /1 to 128 characters/],
  ])('refuses %s with InvalidRequestException naming the value', async (_what, input, message) => {
    await expect(async () => api.BatchGetQueryExecution!(input)).rejects.toMatchObject({
      code: 'InvalidRequestException',
      message: expect.stringMatching(message),
    });
  });
});

describe('Lambda GetFunction and STS GetCallerIdentity', () => {
  it('answers undefined for a function the stage does not have', () => {
    expect(lambdaConfiguration(stage, 'nope')).toBeUndefined();
    expect(lambdaConfiguration(stage, 'arn:aws:lambda:eu-west-1:111122223333:function:nope')).toBeUndefined();
  });

  it('names the account in the XML answer', () => {
    expect(callerIdentityXml('111122223333', 'req-1')).toBe(
      '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>' +
        '<Arn>arn:aws:iam::111122223333:root</Arn><UserId>111122223333</UserId><Account>111122223333</Account>' +
        '</GetCallerIdentityResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>',
    );
  });
});

describe('paginate', () => {
  const spec = { maxField: 'MaxResults', tokenField: 'NextToken', defaultMax: 2, maxLimit: 3, errorCode: 'ValidationException', scope: 's' };
  const items = ['a', 'b', 'c', 'd', 'e'];

  it('walks every item exactly once in pages of the asked size', () => {
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const { page, nextToken } = paginate(items, { MaxResults: 3, NextToken: token }, spec);
      seen.push(...page);
      token = nextToken;
    } while (token);
    expect(seen).toEqual(items);
    expect(paginate(items, {}, spec).page).toEqual(['a', 'b']);
  });

  it.each([[0], [4], [1.5], ['2']])('fails if the page size is %j', (max) => {
    expect(() => paginate(items, { MaxResults: max }, spec)).toThrow(/Member must have value between 1 and 3/);
  });

  it('fails on a forged token or one of another scope', () => {
    expect(() => paginate(items, { NextToken: 'forged' }, spec)).toThrow(/NextToken must be a token a previous call/);
    const { nextToken } = paginate(items, {}, { ...spec, scope: 'other' });
    expect(() => paginate(items, { NextToken: nextToken }, spec)).toThrow(/NextToken must be a token/);
  });
});

describe('the AWS endpoint: query protocol and Lambda GetFunction edges', () => {
  it('answers an STS action it does not serve with the query protocol’s XML error, and a malformed function name with 400', async () => {
    const endpoint = await startAwsEndpoint({ services: {}, getFunction: () => undefined, account: '111122223333' });
    try {
      const sts = await fetch(endpoint.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'Action=AssumeRole&Version=2011-06-15',
      });
      expect(sts.status).toBe(400);
      expect(await sts.text()).toMatch(/^<ErrorResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/"><Error><Type>Sender<\/Type><Code>InvalidAction<\/Code>/);
      const who = await fetch(`${endpoint.url}/?Action=GetCallerIdentity&Version=2011-06-15`);
      expect(await who.text()).toContain('<Account>111122223333</Account>');
      const bad = await fetch(`${endpoint.url}/2015-03-31/functions/%E0%A4%A`);
      expect([bad.status, bad.headers.get('x-amzn-errortype')]).toEqual([400, 'InvalidParameterValueException']);
      const missing = await fetch(`${endpoint.url}/2015-03-31/functions/nope`);
      expect([missing.status, missing.headers.get('x-amzn-errortype')]).toEqual([404, 'ResourceNotFoundException']);
    } finally {
      await endpoint.close();
    }
  });
});
