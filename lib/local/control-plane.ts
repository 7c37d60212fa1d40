/**
 * The read-only control-plane calls users' own clients make to find their way around (which work
 * groups, which rules, which function, who am I), answered from the stage's templates and the
 * running engines in the services' own shapes. Plain functions of their inputs; the platform mounts
 * them on the AWS endpoint.
 *
 * @example
 * const api = controlPlaneLists({ stage, catalog, athena });
 * api.athena.ListWorkGroups({ MaxResults: 10 });
 */
import type { LocalStage } from './assembly';
import type { AthenaCatalog } from './athena/catalog';
import type { QueryExecution } from './athena/engine';
import { AwsError, type Operation, paginate } from './aws-endpoint';

export interface ControlPlaneSources {
  readonly stage: LocalStage;
  readonly catalog: AthenaCatalog;
  /** The query executions the local Athena has run, newest first. */
  readonly queryExecutions: () => readonly QueryExecution[];
}

const PRIMARY_WORK_GROUP = 'primary';
const ATHENA_ENGINE = {
  SelectedEngineVersion: 'AUTO',
  EffectiveEngineVersion: 'Athena engine version 3',
};

/** Athena ListWorkGroups, ListQueryExecutions and BatchGetQueryExecution. */
export function athenaLists(sources: ControlPlaneSources): Record<string, Operation> {
  const names = () => [
    PRIMARY_WORK_GROUP,
    ...sources.catalog.workGroups.map((w) => w.name).filter((n) => n !== PRIMARY_WORK_GROUP),
  ];
  const page = (scope: string, defaultMax: number) => ({
    maxField: 'MaxResults',
    tokenField: 'NextToken',
    defaultMax,
    maxLimit: 50,
    errorCode: 'InvalidRequestException',
    scope,
  });
  return {
    ListWorkGroups: (input) => {
      const { page: groups, nextToken } = paginate(names().sort(), input, page('ListWorkGroups', 50));
      return {
        WorkGroups: groups.map((Name) => ({
          Name,
          State: 'ENABLED',
          Description: Name === PRIMARY_WORK_GROUP ? '' : `${Name} (local)`,
          CreationTime: new Date(0),
          EngineVersion: ATHENA_ENGINE,
        })),
        ...(nextToken ? { NextToken: nextToken } : {}),
      };
    },
    // As on Athena, the listing is one work group's: `primary` unless the request names another.
    ListQueryExecutions: (input) => {
      const workGroup = input['WorkGroup'] ?? PRIMARY_WORK_GROUP;
      if (typeof workGroup !== 'string' || !names().includes(workGroup)) {
        throw new AwsError('InvalidRequestException', `WorkGroup ${String(workGroup)} is not found.`);
      }
      const ids = sources
        .queryExecutions()
        .filter((q) => q.WorkGroup === workGroup)
        .map((q) => q.QueryExecutionId);
      const { page: QueryExecutionIds, nextToken } = paginate(
        ids,
        input,
        page(`ListQueryExecutions:${workGroup}`, 50),
      );
      return { QueryExecutionIds, ...(nextToken ? { NextToken: nextToken } : {}) };
    },
    // What the Athena console and `aws athena batch-get-query-execution` read after a listing: 1 to
    // 50 ids, the known ones answered in the order asked, the others listed as unprocessed.
    BatchGetQueryExecution: (input) => {
      const ids = input['QueryExecutionIds'];
      const invalid = (where: string, rule: string, value: string) =>
        new AwsError(
          'InvalidRequestException',
          `1 validation error detected: Value at '${where}' failed to satisfy constraint: ${rule}, but ${value} provided`,
        );
      const shown = (v: unknown) => `${(JSON.stringify(v) ?? String(v)).slice(0, 80)} was`;
      if (!Array.isArray(ids) || ids.length < 1 || ids.length > 50) {
        const value = Array.isArray(ids) ? `${ids.length} were` : ids === undefined ? 'none was' : shown(ids);
        throw invalid('queryExecutionIds', 'Member must be a list of 1 to 50 query execution ids', value);
      }
      const bad = ids.findIndex((id) => typeof id !== 'string' || !/^\S{1,128}$/.test(id));
      if (bad >= 0) {
        throw invalid(`queryExecutionIds.${bad + 1}.member`, 'Member must be 1 to 128 characters without spaces', shown(ids[bad]));
      }
      const byId = new Map(sources.queryExecutions().map((q) => [q.QueryExecutionId, q]));
      const asked = [...new Set(ids as string[])];
      return {
        QueryExecutions: asked.filter((id) => byId.has(id)).map((id) => structuredClone(byId.get(id)!)),
        UnprocessedQueryExecutionIds: asked
          .filter((id) => !byId.has(id))
          .map((id) => ({ QueryExecutionId: id, ErrorMessage: `Query execution ${id} is not known to this platform's Athena.` })),
      };
    },
  };
}

/** Step Functions ListActivities: the stage's `AWS::StepFunctions::Activity` resources. */
export function stepFunctionsLists(stage: LocalStage): Record<string, Operation> {
  return {
    ListActivities: (input) => {
      const activities = stage
        .resourcesOfType('AWS::StepFunctions::Activity')
        .map((r) => {
          const name = (stage.properties(r) as { Name?: unknown }).Name;
          return typeof name === 'string' ? name : stage.physicalName(r);
        })
        .map((name) => ({
          // Built here: the assembly reader does not model activities' attributes.
          activityArn: `arn:aws:states:${stage.region}:${stage.account}:activity:${name}`,
          name,
          creationDate: new Date(0),
        }))
        .sort((a, b) => (a.name < b.name ? -1 : 1));
      const { page, nextToken } = paginate(activities, input, {
        maxField: 'maxResults',
        tokenField: 'nextToken',
        defaultMax: 100,
        maxLimit: 1000,
        errorCode: 'InvalidToken',
        scope: 'ListActivities',
      });
      return { activities: page, ...(nextToken ? { nextToken } : {}) };
    },
  };
}

/** EventBridge ListRules over the stage's `AWS::Events::Rule` resources (enabled or not). */
export function eventBridgeLists(stage: LocalStage): Record<string, Operation> {
  return {
    ListRules: (input) => {
      const prefix = input['NamePrefix'] ?? '';
      const bus = busName(input['EventBusName']);
      if (typeof prefix !== 'string') {
        throw new AwsError('ValidationException', `NamePrefix must be a string, but ${JSON.stringify(prefix)} was provided`);
      }
      const rules = stage
        .resourcesOfType('AWS::Events::Rule')
        .map((r) => {
          const p = stage.properties(r) as {
            EventPattern?: unknown;
            EventBusName?: string;
            State?: string;
            Description?: string;
            ScheduleExpression?: string;
          };
          return {
            Name: stage.physicalName(r),
            Arn: stage.arn(r),
            ...(p.EventPattern !== undefined
              ? { EventPattern: typeof p.EventPattern === 'string' ? p.EventPattern : JSON.stringify(p.EventPattern) }
              : {}),
            ...(p.ScheduleExpression ? { ScheduleExpression: p.ScheduleExpression } : {}),
            State: p.State ?? 'ENABLED',
            ...(p.Description ? { Description: p.Description } : {}),
            EventBusName: busName(p.EventBusName),
          };
        })
        .filter((r) => r.EventBusName === bus && r.Name.startsWith(prefix))
        .sort((a, b) => (a.Name < b.Name ? -1 : 1));
      const { page, nextToken } = paginate(rules, input, {
        maxField: 'Limit',
        tokenField: 'NextToken',
        defaultMax: 100,
        maxLimit: 100,
        errorCode: 'ValidationException',
        scope: `ListRules:${bus}:${prefix}`,
      });
      return { Rules: page, ...(nextToken ? { NextToken: nextToken } : {}) };
    },
  };
}

function busName(nameOrArn: unknown): string {
  if (nameOrArn === undefined || nameOrArn === null || nameOrArn === '') return 'default';
  const s = String(nameOrArn);
  return s.includes(':event-bus/') ? s.split(':event-bus/')[1]! : s;
}

/**
 * Lambda GetFunction's `Configuration` for one function of the stage, by name or ARN; `undefined`
 * when the stage has no such function (or it has no local bundle).
 */
export function lambdaConfiguration(stage: LocalStage, nameOrArn: string): Record<string, unknown> | undefined {
  const name = nameOrArn.includes(':function:') ? nameOrArn.split(':function:')[1]!.split(':')[0]! : nameOrArn;
  const r = stage
    .resourcesOfType('AWS::Lambda::Function')
    .find((f) => f.asset && stage.physicalName(f) === name);
  if (!r) return undefined;
  const p = stage.properties(r) as {
    Runtime?: string;
    Handler?: string;
    Role?: unknown;
    Description?: string;
    Timeout?: number;
    MemorySize?: number;
    Architectures?: string[];
    Environment?: { Variables?: Record<string, unknown> };
    TracingConfig?: { Mode?: string };
    LoggingConfig?: Record<string, unknown>;
  };
  return {
    FunctionName: name,
    FunctionArn: stage.arn(r),
    Runtime: p.Runtime ?? 'nodejs20.x',
    Role: typeof p.Role === 'string' ? p.Role : `arn:aws:iam::${stage.account}:role/${name}`,
    Handler: p.Handler ?? 'index.handler',
    CodeSize: 0,
    Description: p.Description ?? '',
    Timeout: p.Timeout ?? 3,
    MemorySize: p.MemorySize ?? 128,
    LastModified: '1970-01-01T00:00:00.000+0000',
    CodeSha256: r.asset?.path.split(/[\\/]/).at(-1)?.replace(/^asset\./, '') ?? '',
    Version: '$LATEST',
    ...(p.Environment?.Variables
      ? { Environment: { Variables: Object.fromEntries(Object.entries(p.Environment.Variables).map(([k, v]) => [k, String(v)])) } }
      : {}),
    TracingConfig: { Mode: p.TracingConfig?.Mode ?? 'PassThrough' },
    State: 'Active',
    LastUpdateStatus: 'Successful',
    PackageType: 'Zip',
    Architectures: p.Architectures ?? ['x86_64'],
  };
}

/** STS GetCallerIdentity, as the account root answers it: the query protocol's XML. */
export function callerIdentityXml(account: string, requestId: string): string {
  return (
    `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">` +
    `<GetCallerIdentityResult><Arn>arn:aws:iam::${account}:root</Arn><UserId>${account}</UserId>` +
    `<Account>${account}</Account></GetCallerIdentityResult>` +
    `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></GetCallerIdentityResponse>`
  );
}
