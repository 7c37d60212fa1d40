/**
 * The kit's one REST API construct (API Gateway v1: the variant with IAM authorization, usage
 * plans, WAF and VPC links). Every service API — registry, features, predictions — is an
 * `MlopsApi`, so authorization, throttling, access logs, request validation and WAF are decided
 * here once, from the environment config.
 *
 * The local environment serves the same routes from the same handlers on 127.0.0.1 (the local
 * gateway reads them from the synthesized template), so routes are added with
 * {@link MlopsApi.addLambdaRoute} and nothing else.
 *
 * @example
 * const api = new MlopsApi(this, 'RegistryApi', { description: 'MLflow REST', auth: 'iam', ... });
 * api.addLambdaRoute('/api/2.0/mlflow/{proxy+}', registry.function);
 * api.grantInvoke(pipelineRole, { routes: [{ method: 'GET', path: '/api/2.0/mlflow/*' }], name: 'Read', reason: 'reads only' });
 */
import { CfnOutput, Names, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { type EnvironmentConfig, stageRoleArnPattern } from '../config';
import { acknowledgeFindingPrefix, complianceAcks, INLINE_POLICY_REASON } from './nag';
import { houseLogGroup, type LogGroupOptions } from './log-group-options';

export interface MlopsApiProps extends LogGroupOptions {
  /** What the API serves, shown in the console. */
  readonly description: string;
  /** `iam`: every method requires a SigV4-signed request; `none`: only for the local environment. */
  readonly auth: 'none' | 'iam';
  /** Steady-state requests per second across the stage. */
  readonly throttleRateLimit: number;
  /** Burst capacity across the stage. */
  readonly throttleBurstLimit: number;
  /**
   * Put a WAFv2 web ACL (AWS managed common and known-bad-input rules, a per-IP rate limit) in
   * front of the stage.
   * @default false
   */
  readonly waf?: boolean;
  /**
   * Requests per 5 minutes from one IP before WAF blocks it.
   * @default 2000
   */
  readonly wafRateLimitPer5Minutes?: number;
  /**
   * The only principals that may call the API, as IAM role ARN patterns (`aws:PrincipalArn`,
   * `*` allowed): the API's resource policy denies every other caller. Deny only, on purpose:
   * for a caller of the API's own account, API Gateway allows a request that either the caller's
   * IAM policy or the resource policy allows, so an `Allow` here would hand every named role every
   * method and undo the per-method grants ({@link MlopsApi.grantInvoke}).
   * @default - no resource policy (local: nothing but 127.0.0.1 reaches it)
   */
  readonly allowedPrincipalArns?: readonly string[];
}

/** A method and a path of the deployed stage as `execute-api:Invoke` resources name them; `*` matches anything. */
export interface ApiRoute {
  readonly method: string;
  /** Starts with `/` (`/api/2.0/mlflow/runs/*`). */
  readonly path: string;
}

/** What {@link MlopsApi.grantInvoke} grants. */
export interface InvokeGrant {
  /**
   * The methods and paths the principal may call.
   * @default - every method and path of the stage
   */
  readonly routes?: readonly ApiRoute[];
  /**
   * Names the grant's policy beside the API's id, so one role can hold several grants of one API.
   * @default ''
   */
  readonly name?: string;
  /**
   * Why the routes' wildcards are as narrow as they get (the acknowledgement of AwsSolutions-IAM5).
   * @default - the routes are greedy proxies served by one handler
   */
  readonly reason?: string;
}

/** The deployment stage every kit API uses; its URL is `https://<id>.execute-api.<region>.amazonaws.com/v1/`. */
export const API_STAGE_NAME = 'v1';

export class MlopsApi extends Construct {
  readonly api: apigw.RestApi;
  readonly accessLogs: logs.LogGroup;
  /**
   * The stage's execution log group, which API Gateway would otherwise create on first write
   * (`API-Gateway-Execution-Logs_<api id>/<stage>`) with no retention and no key of the kit's.
   */
  readonly executionLogs: logs.LogGroup;
  readonly webAcl?: wafv2.CfnWebACL;
  private readonly validator: apigw.RequestValidator;
  private readonly authorizationType: apigw.AuthorizationType;

  constructor(scope: Construct, id: string, props: MlopsApiProps) {
    super(scope, id);
    this.authorizationType =
      props.auth === 'iam' ? apigw.AuthorizationType.IAM : apigw.AuthorizationType.NONE;
    this.accessLogs = houseLogGroup(this, 'AccessLogs', props);
    this.api = new apigw.RestApi(this, 'Api', {
      // The name is the `ApiName` dimension of the API's metrics: CDK's default (the construct id,
      // `Api` in every stack) would make every API's alarms and graphs watch the sum of all of them.
      restApiName: `${Stack.of(this).stackName}-${id}`,
      description: props.description,
      endpointTypes: [apigw.EndpointType.REGIONAL],
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
      deployOptions: {
        stageName: API_STAGE_NAME,
        throttlingRateLimit: props.throttleRateLimit,
        throttlingBurstLimit: props.throttleBurstLimit,
        loggingLevel: apigw.MethodLoggingLevel.INFO,
        // Request and response bodies carry model inputs and registry data: keep them out of logs.
        dataTraceEnabled: false,
        metricsEnabled: true,
        tracingEnabled: true,
        accessLogDestination: new apigw.LogGroupLogDestination(this.accessLogs),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields(),
      },
      defaultMethodOptions: { authorizationType: this.authorizationType },
      ...(props.allowedPrincipalArns ? { policy: onlyFrom(props.allowedPrincipalArns) } : {}),
    });
    if (props.allowedPrincipalArns) {
      // API Gateway applies a changed resource policy at the next deployment of the stage only.
      this.api.latestDeployment?.addToLogicalId({ allowedPrincipalArns: Stack.of(this).resolve(props.allowedPrincipalArns) });
    }
    this.executionLogs = houseLogGroup(this, 'ExecutionLogs', {
      ...props,
      logGroupName: `API-Gateway-Execution-Logs_${this.api.restApiId}/${API_STAGE_NAME}`,
    });
    // The group must exist before the stage logs its first request, or API Gateway creates its own.
    this.api.deploymentStage.node.addDependency(this.executionLogs);
    this.validator = this.api.addRequestValidator('Validator', {
      validateRequestParameters: true,
      // Proxy routes carry no body model, so API Gateway passes bodies through; the handlers
      // validate them against their protocol's schema and answer in its error shape.
      validateRequestBody: true,
    });

    Validations.of(this.api).acknowledge(
      ...complianceAcks('APIGWCacheEnabledAndEncrypted', 'Responses are live registry state, feature values and model predictions computed per request; a stage cache would serve stale registry reads and stale features, so caching stays off.'),
      ...complianceAcks('APIGWSSLEnabled', 'Client certificates authenticate API Gateway to HTTP backends; these routes use Lambda proxy integrations (and a VPC link to an internal load balancer for predictions), which API Gateway reaches over AWS APIs with IAM.'),
    );
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        'API Gateway writes execution logs through the account-level CloudWatch role; AWS publishes this managed policy for exactly that role and it grants only CloudWatch Logs actions.',
    });
    if (props.auth === 'iam') {
      Validations.of(this.api).acknowledge({
        id: 'AwsSolutions-COG4',
        reason:
          'Methods require IAM (SigV4) authorization instead of a Cognito authorizer: the callers are pipelines, services and data scientists holding AWS credentials, not end users with user-pool tokens.',
      });
    } else {
      Validations.of(this.api).acknowledge(
        {
          id: 'AwsSolutions-APIG4',
          reason:
            'Unauthenticated only in the local environment, which the local gateway serves on 127.0.0.1; the local stage carries a CloudFormation rule that refuses deployment to any AWS account.',
        },
        {
          id: 'AwsSolutions-COG4',
          reason:
            'Unauthenticated only in the local environment, which the local gateway serves on 127.0.0.1; the local stage carries a CloudFormation rule that refuses deployment to any AWS account.',
        },
      );
    }

    if (props.waf) {
      this.webAcl = this.addWebAcl(props.wafRateLimitPer5Minutes ?? 2000, props);
    } else {
      Validations.of(this.api).acknowledge({
        id: 'AwsSolutions-APIG3',
        reason:
          'WAF is configured per environment: production puts a web ACL in front of every API; this environment relies on IAM authorization on every method and stage throttling.',
      });
    }

    new CfnOutput(this, 'Url', { value: this.api.url, description: `${props.description}: base URL` });
  }

  /**
   * Routes `path` (e.g. `/api/2.0/mlflow/{proxy+}`) to a Lambda function with the proxy
   * integration, for the given methods.
   */
  addLambdaRoute(path: string, fn: lambda.IFunction, methods: readonly string[] = ['ANY']): apigw.Resource {
    const resource = this.api.root.resourceForPath(path);
    const integration = new apigw.LambdaIntegration(fn, { proxy: true, allowTestInvoke: false });
    for (const method of methods) {
      resource.addMethod(method, integration, {
        authorizationType: this.authorizationType,
        requestValidator: this.validator,
      });
    }
    return resource;
  }

  /**
   * Lets a principal call routes of the deployed stage (`execute-api:Invoke`): every route, or the
   * methods and paths given. For a role, the statement goes into a policy of its own, so the
   * acknowledgement of its wildcards covers that single statement and nothing else the role holds.
   */
  grantInvoke(grantee: iam.IGrantable, grant: InvokeGrant = {}): iam.Grant {
    const routes = grant.routes ?? [{ method: '*', path: '/*' }];
    if (routes.length === 0) throw new Error(`an API grant must name at least one route, but none were provided for ${grant.name ?? 'the grant'}`);
    const resourceArns = routes.map((r) => this.api.arnForExecuteApi(r.method, r.path, API_STAGE_NAME));
    const principal = grantee.grantPrincipal;
    if (!(principal instanceof iam.Role)) {
      return iam.Grant.addToPrincipal({ grantee, actions: ['execute-api:Invoke'], resourceArns });
    }
    // The name before the id: the id ends in a hash of the stage's path, which tools strip as a suffix.
    const policy = new iam.Policy(principal, `Invoke${grant.name ?? ''}${Names.uniqueId(this.api)}`, {
      statements: [new iam.PolicyStatement({ actions: ['execute-api:Invoke'], resources: resourceArns })],
    });
    policy.attachToRole(principal);
    // The finding's id embeds the API id, which is a cross-stack export when the role lives in
    // another stack: acknowledged by prefix, on this one-statement policy only.
    acknowledgeFindingPrefix(
      policy,
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:',
      grant.reason ??
        'This policy holds one statement: execute-api:Invoke on one API stage, whose routes are greedy proxies ({proxy+}) that the handler serves, so method and path are wildcards within this API only.',
    );
    Validations.of(policy).acknowledge(...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON));
    return iam.Grant.drop(grantee, 'execute-api:Invoke');
  }

  private addWebAcl(rateLimit: number, props: MlopsApiProps): wafv2.CfnWebACL {
    const visibility = (metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      metricName,
      sampledRequestsEnabled: true,
    });
    const managed = (
      name: string,
      priority: number,
      excluded: string[] = [],
    ): wafv2.CfnWebACL.RuleProperty => ({
      name,
      priority,
      overrideAction: { none: {} },
      statement: {
        managedRuleGroupStatement: {
          vendorName: 'AWS',
          name,
          // Count instead of block where a rule conflicts with legitimate traffic (see below).
          ruleActionOverrides: excluded.map((rule) => ({ name: rule, actionToUse: { count: {} } })),
        },
      },
      visibilityConfig: visibility(name),
    });
    const acl = new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('mlops-api'),
      rules: [
        // SizeRestrictions_BODY blocks bodies over 8 KB: batch predictions and MLflow log-batch
        // calls are larger by design, and the handlers enforce their own body limits.
        managed('AWSManagedRulesCommonRuleSet', 0, ['SizeRestrictions_BODY']),
        managed('AWSManagedRulesKnownBadInputsRuleSet', 1),
        {
          name: 'RateLimitPerIp',
          priority: 2,
          action: { block: {} },
          statement: { rateBasedStatement: { aggregateKeyType: 'IP', limit: rateLimit } },
          visibilityConfig: visibility('RateLimitPerIp'),
        },
      ],
    });
    new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
      webAclArn: acl.attrArn,
      resourceArn: this.api.deploymentStage.stageArn,
    });
    // WAF only delivers to log groups whose name starts with aws-waf-logs-.
    const wafLogs = houseLogGroup(this, 'WafLogs', { ...props, logGroupName: `aws-waf-logs-${Names.uniqueResourceName(this, { maxLength: 100, separator: '-' }).toLowerCase()}` });
    new wafv2.CfnLoggingConfiguration(this, 'WafLogging', {
      resourceArn: acl.attrArn,
      logDestinationConfigs: [wafLogs.logGroupArn.replace(/:\*$/, '')],
    });
    return acl;
  }

  get region(): string {
    return Stack.of(this).region;
  }
}

/**
 * The callers an environment's API lets in ({@link MlopsApiProps.allowedPrincipalArns}): with IAM
 * auth, the stage's own roles (by name pattern: the roles that call an API live in stacks that
 * depend on the API's, so a reference would be circular) and `api.callers`; unauthenticated
 * (local), no resource policy.
 */
export function stageApiCallers(scope: Construct, config: Pick<EnvironmentConfig, 'name' | 'api'>): Pick<MlopsApiProps, 'allowedPrincipalArns'> {
  if (config.api.auth !== 'iam') return {};
  const stack = Stack.of(scope);
  return { allowedPrincipalArns: [stageRoleArnPattern(config.name, stack.account, stack.partition), ...config.api.callers] };
}

/** A resource policy that denies `execute-api:Invoke` to every principal but the ones named. */
function onlyFrom(principalArns: readonly string[]): iam.PolicyDocument {
  if (principalArns.length === 0) {
    throw new Error('MlopsApi allowedPrincipalArns must name at least one role (an empty list would deny everyone), but none were provided');
  }
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        sid: 'DenyAllButNamedPrincipals',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['execute-api:Invoke'],
        resources: ['execute-api:/*'],
        conditions: { ArnNotLike: { 'aws:PrincipalArn': [...principalArns] } },
      }),
    ],
  });
}
