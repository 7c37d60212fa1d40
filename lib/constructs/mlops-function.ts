/**
 * The kit's one Lambda construct. Every function in every stack is an `MlopsFunction`, so runtime,
 * architecture, tracing, bundling, source maps and log retention are decided once, here.
 *
 * Bundles are self-contained ESM (`index.mjs`, AWS SDK included): what runs on AWS is byte for byte
 * what the local environment runs from the same cloud assembly, and no runtime-provided SDK version
 * can drift underneath it.
 *
 * @example
 * const fn = new MlopsFunction(this, 'Registry', {
 *   entry: lambdaEntry('registry'),
 *   description: 'MLflow-compatible model registry',
 * });
 * fn.bind('REGISTRY_TABLE_NAME', Binding.table(table, { actions: ['dynamodb:GetItem'] }));
 */
import { AssetHashType, type CfnResource, DockerImage, Duration, Lazy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, type IConstruct } from 'constructs';
import type { Binding } from './binding';
import { type BundleCache, defaultBundleCache, type HandlerBundle, stageBundle } from './bundle-cache';
import { complianceAcks, INLINE_POLICY_REASON } from './nag';
import { houseLogGroup, type LogGroupOptions } from './log-group-options';

export { FUNCTION_BUNDLING, lambdaEntry, PROJECT_ROOT } from './bundling';

/** The runtime every kit function uses: the newest Node.js Lambda offers. */
export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_24_X;


export interface MlopsFunctionProps extends LogGroupOptions {
  /** Path of the handler's TypeScript module (use {@link lambdaEntry}). */
  readonly entry: string;
  /**
   * Exported handler name.
   * @default 'handler'
   */
  readonly handler?: string;
  /** What the function does, shown in the console. */
  readonly description: string;
  /**
   * Memory in MB.
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * Reserved concurrency; undefined shares the account pool.
   * @default - none
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Plain configuration values (not resources: use {@link MlopsFunction.bind} for those, so the
   * permission comes with the name).
   * @default - none
   */
  readonly environment?: Record<string, string>;
  /**
   * A fixed name for the function's role, for a policy elsewhere that must name the role without a
   * reference to it (the registry's production guard names the release machine's).
   * @default - CloudFormation names it
   */
  readonly roleName?: string;
  /**
   * Where the handler's bundle comes from.
   * @default defaultBundleCache()
   */
  readonly bundleCache?: BundleCache;
}

export class MlopsFunction extends Construct {
  readonly function: lambda.Function;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: MlopsFunctionProps) {
    super(scope, id);
    this.logGroup = houseLogGroup(this, 'Logs', props);
    // Its own role instead of AWSLambdaBasicExecutionRole: logs go to this function's log group only.
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs ${props.description}`,
      ...(props.roleName ? { roleName: props.roleName } : {}),
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    Validations.of(role).acknowledge(...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON));
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which X-Ray only grants on Resource "*"; a test asserts no other action in the kit uses Resource "*".',
    });
    this.function = new lambda.Function(this, 'Function', {
      role,
      code: handlerCode(props.entry, props.bundleCache ?? defaultBundleCache()),
      handler: `index.${props.handler ?? 'handler'}`,
      description: props.description,
      runtime: FUNCTION_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(30),
      tracing: lambda.Tracing.ACTIVE,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      // Stack traces point at the TypeScript sources through the bundled source map.
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
    });
    // The construct's own policy statements are checked by the stack-level nag run; the two
    // findings below are properties of every Lambda function and decided here once.
    Validations.of(this.function).acknowledge(
      ...complianceAcks('LambdaDLQ', 'Kit functions are invoked synchronously (API Gateway, Step Functions, the CLI): the caller sees and retries failures; there is no asynchronous event to dead-letter.'),
      ...complianceAcks('LambdaInsideVPC', 'Kit functions reach only AWS service endpoints (DynamoDB, S3, EventBridge, Athena) under IAM; no private network resource needs a VPC attachment.'),
    );
  }

  /** The function's ARN, for wiring into other resources. */
  get functionArn(): string {
    return this.function.functionArn;
  }

  /**
   * Passes a resource's name (or URL) in the environment variable `name` and grants what using it
   * needs, in one call: no name without its permission (see `./binding`).
   */
  bind(name: string, binding: Binding): this {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new Error(`an environment variable name must be letters, digits and _, but "${name}" was provided`);
    }
    this.function.addEnvironment(name, binding.value);
    binding.grant(this.function);
    return this;
  }

  /** The stack's region, for handlers that build ARNs or URIs. */
  get region(): string {
    return Stack.of(this).region;
  }
}

/**
 * The function's code: the handler's cached bundle (see {@link defaultBundleCache}), staged through
 * CDK's local bundling hook rather than `Code.fromAsset(bundle.dir)` alone. Both skip the copy when
 * the assembly already holds `asset.<hash>` (every environment after the first), and both take the
 * bundle's content hash as the asset hash, so the hash no longer depends on where the checkout or
 * `cdk.out` is. The hook is chosen because it is told the directory CDK stages into: the source
 * map's relative `sources` are rewritten for that directory, which makes the staged map byte for byte
 * what esbuild (and NodejsFunction before) would have written there, and keeps the cache's
 * `bundle.json` out of the asset. Docker is never used: the hook always succeeds.
 */
function bundleCode(bundle: HandlerBundle): lambda.Code {
  return lambda.Code.fromAsset(bundle.dir, {
    assetHash: bundle.hash,
    assetHashType: AssetHashType.CUSTOM,
    bundling: {
      image: DockerImage.fromRegistry('dummy'),
      local: {
        tryBundle(outputDir: string): boolean {
          stageBundle(bundle, outputDir);
          return true;
        },
      },
    },
  });
}

/**
 * The code of a function whose bundle is still being built ({@link BundleCache.prefetch}), or of one
 * whose bundle is ready ({@link bundleCode}).
 */
function handlerCode(entry: string, cache: BundleCache): lambda.Code {
  const building = cache.building(entry);
  return building ? new PendingBundleCode(entry, cache, building) : bundleCode(cache.get(entry));
}

/** The functions whose code waits for its bundle: see {@link bindPendingBundles}. */
const pendingCodes = new Set<PendingBundleCode>();

/**
 * A function's code while esbuild is still building its bundle: the function and the rest of the
 * tree are built meanwhile (bin/app.ts: on one core while esbuild runs on the other, instead of
 * waiting for the bundles' hashes). Its S3 location is a token until {@link bindPendingBundles}
 * binds the bundle's {@link bundleCode} to the same function and resource, which stages it and adds
 * its asset metadata as at construction: the same template.
 */
class PendingBundleCode extends lambda.Code {
  readonly isInline = false;
  private target?: { scope: Construct; children: number; resource?: CfnResource; options?: lambda.ResourceBindOptions };
  private location?: lambda.CodeConfig['s3Location'];

  constructor(
    private readonly entry: string,
    private readonly cache: BundleCache,
    private readonly built: Promise<void>,
  ) {
    super();
  }

  bind(scope: Construct): lambda.CodeConfig {
    if (this.target) throw new Error(`the code of ${this.entry} is already bound to ${this.target.scope.node.path}`);
    this.target = { scope, children: scope.node.children.length };
    pendingCodes.add(this);
    const part = (pick: (l: NonNullable<lambda.CodeConfig['s3Location']>) => string) => Lazy.string({ produce: () => pick(this.bound()) });
    return { s3Location: { bucketName: part((l) => l.bucketName), objectKey: part((l) => l.objectKey) } };
  }

  override bindToResource(resource: CfnResource, options?: lambda.ResourceBindOptions): void {
    if (this.target) this.target = { ...this.target, resource, options };
  }

  /** Binds the built bundle where this code was bound. */
  async settle(): Promise<void> {
    await this.built;
    const { scope, children, resource, options } = this.target!;
    const code = bundleCode(this.cache.get(this.entry));
    const later = scope.node.children.slice(children);
    this.location = code.bind(scope).s3Location;
    if (resource) code.bindToResource(resource, options);
    moveToEnd(scope, later);
    pendingCodes.delete(this);
  }

  private bound(): NonNullable<lambda.CodeConfig['s3Location']> {
    if (!this.location) {
      throw new Error(
        `${this.target!.scope.node.path}: the bundle of ${this.entry} is still being built; await bindPendingBundles() before synthesizing`,
      );
    }
    return this.location;
  }
}

/**
 * Moves `children` of `scope` after its other children, in their order: the asset `Code` that
 * {@link PendingBundleCode.settle} adds then sits where `lambda.Code.fromAsset` puts it, before the
 * children the function made after binding its code. The tree's order is the order of the construct
 * types in the template's CDK metadata (`AWS::CDK::Metadata`), so the template stays the same.
 * constructs has no public way to reorder: a child is removed (public) and added again by the
 * node's own `addChild`, when it has one.
 */
function moveToEnd(scope: Construct, children: readonly IConstruct[]): void {
  const node = scope.node as unknown as { addChild?: (child: IConstruct, id: string) => void };
  if (typeof node.addChild !== 'function') return;
  for (const child of children) {
    scope.node.tryRemoveChild(child.node.id);
    node.addChild(child, child.node.id);
  }
}

/**
 * Waits for the bundles of every `MlopsFunction` built while they were still being built (see
 * {@link BundleCache.prefetch}) and binds them: call it before synthesizing a tree built during a
 * prefetch (bin/app.ts). A build's failure is thrown here. Nothing to do when no bundle was pending.
 */
export async function bindPendingBundles(): Promise<void> {
  for (const code of [...pendingCodes]) await code.settle();
}
