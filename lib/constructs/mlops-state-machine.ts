/**
 * The kit's one state machine construct: Standard workflows, JSONPath only, a timeout on every
 * Task, logging of every event to a log group with retention, and X-Ray tracing.
 *
 * JSONPath only because the local runner (aws-local-stepfunctions) silently ignores JSONata
 * fields: a JSONata machine would run differently locally than on AWS. A timeout on every Task
 * because Step Functions' own default is none (a Task can hang for the workflow's whole year), and
 * the local runner's default is a hidden 60 s; an explicit value makes both behave the same.
 *
 * @example
 * const machine = new MlopsStateMachine(this, 'Training', {
 *   definition: validate.next(train).next(register),
 *   timeout: Duration.hours(6),
 * });
 */
import { type CfnElement, Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { MlopsFunction } from './mlops-function';
import { acknowledgeFindingPrefix, complianceAcks, INLINE_POLICY_REASON } from './nag';
import { houseLogGroup, type LogGroupOptions } from './log-group-options';

export interface MlopsStateMachineProps extends LogGroupOptions {
  /** The workflow, built from JSONPath states. */
  readonly definition: sfn.IChainable;
  /** Shown in the console above the graph. */
  readonly comment?: string;
  /**
   * The whole execution's time limit.
   * @default Duration.hours(24)
   */
  readonly timeout?: Duration;
  /**
   * The timeout given to each Task that does not set its own.
   * @default Duration.minutes(15)
   */
  readonly defaultTaskTimeout?: Duration;
  /**
   * Whether input and output of each state is logged. Off for data that must not reach logs.
   * @default true
   */
  readonly includeExecutionData?: boolean;
}

/** Thrown at synthesis for a definition the kit cannot run the same way locally and on AWS. */
export class DefinitionError extends Error {
  override readonly name = 'DefinitionError';
}

export class MlopsStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: MlopsStateMachineProps) {
    super(scope, id);
    this.logGroup = houseLogGroup(this, 'Logs', props);
    this.stateMachine = new sfn.StateMachine(this, 'Resource', {
      definitionBody: new GuardedDefinitionBody(
        props.definition,
        (props.defaultTaskTimeout ?? Duration.minutes(15)).toSeconds(),
      ),
      comment: props.comment,
      queryLanguage: sfn.QueryLanguage.JSON_PATH,
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: props.timeout ?? Duration.hours(24),
      tracingEnabled: true,
      logs: {
        destination: this.logGroup,
        level: sfn.LogLevel.ALL,
        includeExecutionData: props.includeExecutionData ?? true,
      },
    });
    Validations.of(this.stateMachine.role).acknowledge(...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON));
    // CDK's grant for a Distributed Map: start executions of this machine (its children) and
    // describe, stop and redrive them, on execution ARNs only known at run time.
    const mapPolicy = this.stateMachine.node.tryFindChild('DistributedMapPolicy');
    if (mapPolicy) {
      Validations.of(mapPolicy).acknowledge(...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON));
      acknowledgeFindingPrefix(
        mapPolicy,
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:',
        "A Distributed Map's child executions are executions of this state machine named at run time: DescribeExecution/StopExecution/RedriveExecution are granted on this machine's own execution ARNs (`execution:<name>:*`, `execution:<name>/<map run>:*`), nothing else.",
      );
    }
    Validations.of(this.stateMachine.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Step Functions log delivery (logs:*LogDelivery, DescribeLogGroups…) and X-Ray (PutTraceSegments…) do not support resource-level permissions; the statement lists specific actions on Resource "*" as AWS documents.',
    });
  }

  get stateMachineArn(): string {
    return this.stateMachine.stateMachineArn;
  }

  /** Lets a principal start executions and read their status and history. */
  grantStartExecution(principal: iam.IGrantable): void {
    this.stateMachine.grantStartExecution(principal);
    this.stateMachine.grantRead(principal);
  }

  /**
   * Acknowledges the `<function ARN>:*` grant CDK gives the machine's role for each Lambda task of
   * these functions (a `LambdaInvoke` grants the function and its versions and aliases).
   */
  acknowledgeInvoke(functions: readonly MlopsFunction[]): void {
    const stack = Stack.of(this);
    for (const fn of functions) {
      const id = stack.resolve(stack.getLogicalId(fn.function.node.defaultChild as CfnElement));
      Validations.of(this.stateMachine.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${id}.Arn>:*]`,
        reason:
          'lambda:invoke tasks are granted on the function and its qualified ARNs (versions, aliases) of this one function, as CDK renders every LambdaInvoke grant.',
      });
    }
  }

  get stack(): Stack {
    return Stack.of(this);
  }
}

/**
 * A chain definition whose rendered graph is checked and completed before it is written: every
 * Task gets `TimeoutSeconds` unless it sets one, and a JSONata state fails synthesis.
 */
class GuardedDefinitionBody extends sfn.ChainDefinitionBody {
  constructor(
    chainable: sfn.IChainable,
    private readonly defaultTaskTimeoutSeconds: number,
  ) {
    super(chainable);
  }

  override bind(
    scope: Construct,
    sfnPrincipal: iam.IPrincipal,
    sfnProps: sfn.StateMachineProps,
    graph?: sfn.StateGraph,
  ): sfn.DefinitionConfig {
    if (!graph) throw new DefinitionError('a chain definition always comes with its state graph');
    const json = graph.toGraphJson(sfn.QueryLanguage.JSON_PATH) as Record<string, unknown>;
    guardStates(json, this.defaultTaskTimeoutSeconds, scope.node.path);
    void sfnPrincipal;
    return {
      definitionString: Stack.of(scope).toJsonString({
        ...json,
        Comment: sfnProps.comment,
        QueryLanguage: sfnProps.queryLanguage,
      }),
    };
  }
}

/** Walks a rendered definition (including Map and Parallel branches) in place. */
export function guardStates(
  definition: Record<string, unknown>,
  taskTimeoutSeconds: number,
  where: string,
): void {
  if (definition['QueryLanguage'] === 'JSONata') {
    throw new DefinitionError(
      `${where}: JSONata definitions are not supported (the local runner cannot execute them); use JSONPath`,
    );
  }
  const states = (definition['States'] ?? {}) as Record<string, Record<string, unknown>>;
  for (const [name, state] of Object.entries(states)) {
    if (state['QueryLanguage'] === 'JSONata') {
      throw new DefinitionError(`${where}: state '${name}' uses JSONata; the kit only runs JSONPath states`);
    }
    if (
      state['Type'] === 'Task' &&
      state['TimeoutSeconds'] === undefined &&
      state['TimeoutSecondsPath'] === undefined
    ) {
      state['TimeoutSeconds'] = taskTimeoutSeconds;
    }
    for (const key of ['Iterator', 'ItemProcessor'] as const) {
      const branch = state[key];
      if (branch && typeof branch === 'object')
        guardStates(branch as Record<string, unknown>, taskTimeoutSeconds, where);
    }
    const branches = state['Branches'];
    if (Array.isArray(branches)) for (const b of branches) guardStates(b, taskTimeoutSeconds, where);
  }
}
