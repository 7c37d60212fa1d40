/**
 * The `release` state machine: copies one registered model version from a source environment
 * into this one, verified, registered with its lineage, approved by a person, then promoted (the
 * registry's promotion event starts the canary rollout where serving runs). The steps are
 * `lambdas/release.ts` over `lib/release/release.ts`.
 *
 * ```
 * Read source version → Already released? ─yes→ Already released (Succeed: a no-op that says so)
 *   └no→ Copy and verify artifact → Register release → Wait for approval ─approve→ Promote release → Released
 *                                                                      └reject→ Reject release → Release rejected (Fail: ReleaseRejected)
 * Copy … Promote ─Catch→ Clean up → Release failed (Fail: the step's error)
 * ```
 *
 * "Wait for approval" publishes the approve and reject commands on the release topic with a task
 * token (`.waitForTaskToken`); `npx mlops approve|reject <execution>` reads the token back from the
 * execution's history (the step's TaskScheduled parameters), so no second store holds it.
 *
 * Execution input: `{ model, version, source: { environment, registry_url, role_arn?, s3_endpoint?, region? } }`.
 *
 * @example
 * const release = new ReleaseMachine(stack, 'Release', { lake, house, registry: registry.endpointFor('read', 'write', 'promote'), sourceRoleArns: [arn] });
 * release.stateMachine.grantStartExecution(operators);
 */
import { Duration, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { Binding } from './binding';
import type { DataLake } from './data-lake';
import type { HouseDefaults } from './house-defaults';
import { LambdaStep } from './lambda-step';
import { lambdaEntry, MlopsFunction } from './mlops-function';
import { MlopsStateMachine } from './mlops-state-machine';
import { declareStateMachine } from './platform-facts';
import { PipelineTopic } from './pipeline-topic';
import { SNS_TRANSIENT_ERRORS, transientRetry } from './retries';

/** The release machine's state names (the CLI finds the approval step by its name). */
export const RELEASE_STATES = {
  read: 'Read source version',
  already: 'Already released?',
  alreadyDone: 'Already released',
  copy: 'Copy and verify artifact',
  register: 'Register release',
  approval: 'Wait for approval',
  promote: 'Promote release',
  released: 'Released',
  reject: 'Reject release',
  rejected: 'Release rejected',
  cleanup: 'Clean up',
  failed: 'Release failed',
} as const;

/** The error `mlops reject` fails the approval with. */
export const RELEASE_REJECTED = 'ReleaseRejected';

/** Where released artifacts are written in the artifacts zone (lib/release: `RELEASES_PREFIX`). */
const RELEASES = 'releases/';
const RELEASES_WHY = 'each release writes under releases/<model>/<source>/v<version>/, named by the execution input';
const REGISTRY_RETRY = ['RegistryUnavailableError'];

export interface ReleaseMachineProps {
  readonly lake: DataLake;
  readonly house: HouseDefaults;
  /** This environment's registry, with read, write and promote (`RegistryStack.endpointFor`). */
  readonly registry: Binding;
  /**
   * The fixed name of the release function's role, which the registry's production guard names
   * (`releasePromoterRoleName`).
   * @default - CloudFormation names it
   */
  readonly roleName?: string;
  /** `iam` or `none`, as the registry's API is configured. */
  readonly registryAuth: string;
  /**
   * The roles in source environments the release function may assume to read a source (its
   * registry and artifacts). Nothing else may be assumed.
   * @default [] (sources reached without a role: the local environment)
   */
  readonly sourceRoleArns?: readonly string[];
  /**
   * How long a release waits for its approval before it is cleaned up.
   * @default Duration.days(7)
   */
  readonly approvalTimeout?: Duration;
}

export class ReleaseMachine extends Construct {
  readonly stateMachine: MlopsStateMachine;
  readonly function: MlopsFunction;
  /** Where "approve or reject" messages are published. */
  readonly topic: PipelineTopic;

  constructor(scope: Construct, id: string, props: ReleaseMachineProps) {
    super(scope, id);
    const { lake, house } = props;
    const roles = props.sourceRoleArns ?? [];
    for (const arn of roles) {
      if (!/^arn:(aws[\w-]*|\$\{Token\[[^\]]+\]\}):iam::(\d{12}|\$\{Token\[[^\]]+\]\}):role\/[\w+=,.@/-]+$/.test(arn)) {
        throw new Error(`sourceRoleArns must hold IAM role ARNs, but ${arn} was provided`);
      }
    }
    const approvalTimeout = props.approvalTimeout ?? Duration.days(7);
    if (approvalTimeout.toSeconds() < 60) {
      throw new Error(`approvalTimeout must be at least a minute, but ${approvalTimeout.toHumanString()} was provided`);
    }

    this.topic = new PipelineTopic(this, 'Topic', { displayName: 'mlops-kit model releases', key: lake.key });
    this.function = new MlopsFunction(this, 'Function', {
      ...house.logs,
      ...house.workflowFunction,
      entry: lambdaEntry('release'),
      description: 'Release machine: read a source version, copy and verify its artifact, register, promote',
      timeout: Duration.minutes(10),
      environment: { REGISTRY_AUTH: props.registryAuth, SOURCE_ROLE_ARNS: roles.join(',') },
      ...(props.roleName ? { roleName: props.roleName } : {}),
    })
      .bind('REGISTRY_URL', props.registry)
      .bind('ARTIFACTS_BUCKET', lake.artifacts.objects({ read: RELEASES, list: RELEASES, write: RELEASES }, RELEASES_WHY));
    // Incoming copies are removed once verified (or refused), and a failed release's copies by
    // "Clean up": delete under releases/ only (the grant vocabulary has no delete).
    const { arn: artifactsArn, nagName } = lake.artifacts.arnFor(this.function.function);
    this.function.function.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:DeleteObject'], resources: [`${artifactsArn}/${RELEASES}*`] }),
    );
    Validations.of(this.function.function.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagName}/${RELEASES}*]`,
      reason: `Object access is granted on the key prefix "${RELEASES}" only: ${RELEASES_WHY}; delete removes incoming and refused copies.`,
    });
    if (roles.length > 0) {
      this.function.function.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['sts:AssumeRole'], resources: [...roles] }),
      );
    }

    const S = RELEASE_STATES;
    const step = (name: string, payload: Record<string, unknown>, resultPath: string, comment: string) =>
      new LambdaStep(this, name, {
        fn: this.function,
        payload,
        resultPath,
        comment,
        timeout: Duration.minutes(10),
        retryErrors: REGISTRY_RETRY,
      });
    const failed = new sfn.Fail(this, S.failed, {
      comment: "Ends with the failing step's error (SourceNotFound, ArtifactDigestMismatch, …); nothing is left registered",
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });
    const cleanup = step(
      S.cleanup,
      { action: 'cleanup', 'model.$': '$.model', 'execution.$': '$$.Execution.Name', 'plan.$': '$.plan' },
      '$.cleanup',
      'Removes what this execution copied and registered (a version not promoted, its run, incoming copies)',
    );
    cleanup.addCatch(failed, { resultPath: '$.cleanup_error' });
    cleanup.next(failed);
    const onFailure = <T extends sfn.TaskStateBase>(task: T): T => {
      task.addCatch(cleanup, { resultPath: '$.error' });
      return task;
    };

    const read = step(
      S.read,
      { action: 'read', 'model.$': '$.model', 'version.$': '$.version', 'source.$': '$.source' },
      '$.plan',
      "Reads the source version (stage, run, metrics, data version, digest, baseline) through the source registry's API",
    );
    // Nothing is written before the copy: a failed read ends at once.
    read.addCatch(failed, { resultPath: '$.error' });
    const copy = onFailure(
      step(
        S.copy,
        { action: 'copy', 'source.$': '$.source', 'plan.$': '$.plan', 'execution.$': '$$.Execution.Name' },
        '$.copied',
        'Streams the artifact (and baseline) into releases/, verifies its SHA-256 against the source, then moves it to its key',
      ),
    );
    const register = onFailure(
      step(
        S.register,
        { action: 'register', 'plan.$': '$.plan', 'copied.$': '$.copied', 'execution.$': '$$.Execution.Name' },
        '$.released',
        'Registers the verified copy with lineage tags (source environment, version, run, data version, digest)',
      ),
    );
    const approval = new tasks.SnsPublish(this, S.approval, {
      topic: this.topic,
      integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      subject: 'mlops-kit release: waiting for approval',
      // One JSON message: the sentence a person reads, and the token `mlops approve|reject` reads
      // back from this step's TaskScheduled parameters.
      message: sfn.TaskInput.fromObject({
        summary: sfn.JsonPath.format(
          'Version {} of {} from {} is registered here as version {} and waits for approval. Approve: npx mlops approve {}   Reject: npx mlops reject {} --reason <why>',
          sfn.JsonPath.stringAt('$.version'),
          sfn.JsonPath.stringAt('$.model'),
          sfn.JsonPath.stringAt('$.source.environment'),
          sfn.JsonPath.stringAt('$.released.version'),
          sfn.JsonPath.executionName,
          sfn.JsonPath.executionName,
        ),
        model: sfn.JsonPath.stringAt('$.model'),
        version: sfn.JsonPath.stringAt('$.released.version'),
        execution: sfn.JsonPath.executionName,
        taskToken: sfn.JsonPath.taskToken,
      }),
      resultPath: '$.approval',
      comment: 'Publishes the approve and reject commands, then waits for `mlops approve` or `mlops reject`',
      taskTimeout: sfn.Timeout.duration(approvalTimeout),
    });
    approval.addRetry(transientRetry(SNS_TRANSIENT_ERRORS));
    const reject = step(
      S.reject,
      { action: 'reject', 'released.$': '$.released', 'reason.$': '$.error.Cause' },
      '$.rejection',
      'Archives the rejected version and records the reason on it: it is never served',
    );
    reject.addCatch(cleanup, { resultPath: '$.reject_error' });
    reject.next(new sfn.Fail(this, S.rejected, { error: RELEASE_REJECTED, causePath: '$.error.Cause', comment: 'Rejected at approval; the version stays, archived' }));
    approval.addCatch(reject, { errors: [RELEASE_REJECTED], resultPath: '$.error' });
    onFailure(approval);
    const promote = onFailure(
      step(
        S.promote,
        { action: 'promote', 'released.$': '$.released', 'approval.$': '$.approval' },
        '$.promotion',
        'Moves the version to Production: the promotion event starts the rollout where serving runs',
      ),
    );

    const definition = read.next(
      // IsNull true, not IsNotNull: aws-local-stepfunctions (the local runner) evaluates every
      // `IsNull: false` (IsPresent, IsNumeric… false too) as false whatever the value.
      new sfn.Choice(this, S.already, { comment: 'One target version per source version' })
        .when(
          sfn.Condition.isNull('$.plan.already_released'),
          copy.next(register).next(approval).next(promote).next(new sfn.Succeed(this, S.released)),
        )
        .otherwise(
          new sfn.Succeed(this, S.alreadyDone, { comment: 'A release of this source version exists: a no-op', outputPath: '$.plan' }),
        ),
    );
    this.stateMachine = new MlopsStateMachine(this, 'StateMachine', {
      definition,
      comment: 'mlops-kit release: read a source version, copy and verify it, register, approve, promote',
      timeout: approvalTimeout.plus(Duration.hours(2)),
      ...house.logs,
    });
    declareStateMachine(this.stateMachine, 'release');
    this.stateMachine.acknowledgeInvoke([this.function]);
    this.topic.grantPublishEncrypted(this.stateMachine.stateMachine.role);
  }
}
