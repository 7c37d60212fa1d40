/**
 * Reads a synthesized cloud assembly (cdk.out) and turns one stage into the resource model every
 * local engine starts from: per resource its stack, logical id, type, resolved properties,
 * construct path, code asset, and the deterministic local physical name and ARN that `Ref` and
 * `Fn::GetAtt` return. Names are derived, not random, so state on disk (buckets, tables,
 * executions) survives `mlops up` restarts.
 *
 * @example
 * const stage = readAssembly('cdk.out', { stage: 'Local' });
 * const machine = stage.resourcesOfType('AWS::StepFunctions::StateMachine')[0];
 * stage.resolve(machine.stackName, machine.properties['DefinitionString']);
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { IntrinsicError, type IntrinsicScope, resolveIntrinsics, uuidFrom } from './intrinsics';

/** The account and region used when a stack is environment-agnostic. */
export const DEFAULT_LOCAL_ACCOUNT = '000000000000';
export const DEFAULT_LOCAL_REGION = 'us-east-1';

export interface AssemblyStack {
  /** Artifact id in the manifest, e.g. `LocalData970E96AA`. */
  readonly artifactId: string;
  /** The CloudFormation stack name, e.g. `Local-Data`. */
  readonly stackName: string;
  /** Construct path of the stack, e.g. `Local/Data`. */
  readonly displayName: string;
  readonly account: string;
  readonly region: string;
  readonly template: CfnTemplate;
  readonly dependencies: readonly string[];
}

export interface CfnTemplate {
  Parameters?: Record<string, { Type?: string; Default?: unknown }>;
  Conditions?: Record<string, unknown>;
  Mappings?: Record<string, Record<string, Record<string, unknown>>>;
  Resources?: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown; Export?: { Name: unknown }; Condition?: string }>;
}

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  Condition?: string;
  DependsOn?: string | string[];
}

/** A code asset (Lambda code, a Docker context, …) as synthesized. */
export interface AssetRef {
  /** Absolute path of the asset directory or file in the assembly. */
  readonly path: string;
  /** The resource property the asset fills (`Code` for Lambda functions). */
  readonly property: string;
}

export interface AssemblyResource {
  readonly stackName: string;
  readonly logicalId: string;
  readonly type: string;
  /** The raw template properties (intrinsics unresolved); see {@link LocalStage.properties}. */
  readonly rawProperties: Record<string, unknown>;
  readonly metadata: Record<string, unknown>;
  /** e.g. `Local/Data/Lake/Resource`, from `aws:cdk:path` or the assembly's metadata file. */
  readonly constructPath: string | undefined;
  readonly asset: AssetRef | undefined;
  /** The template `Condition`, if any; resources whose condition is false are left out. */
  readonly condition: string | undefined;
}

/** A construct metadata entry of the assembly (`node.addMetadata`), as the manifest records it. */
export interface ConstructMetadata {
  readonly stackName: string;
  /** The construct's path, e.g. `mlops-local/DataLake/Lake/Raw`. */
  readonly constructPath: string;
  readonly type: string;
  /** As synthesized: tokens appear as intrinsics (`{"Ref": …}`), resolve them in `stackName`. */
  readonly data: unknown;
}

export interface ReadAssemblyOptions {
  /** Stage name (nested assembly `assembly-<name>`); omitted: the only stage, or the top level. */
  readonly stage?: string;
  /** Values for template parameters, by name (all stacks). */
  readonly parameterValues?: Record<string, unknown>;
  /** Values for SSM parameters referenced by `AWS::SSM::Parameter::Value<…>` parameters. */
  readonly ssmParameters?: Record<string, string>;
}

interface Manifest {
  artifacts?: Record<
    string,
    {
      type: string;
      environment?: string;
      properties?: Record<string, unknown>;
      dependencies?: string[];
      displayName?: string;
      additionalMetadataFile?: string;
      metadata?: Record<string, { type: string; data: unknown }[]>;
    }
  >;
}

/** Stage names (nested assemblies) of a cloud assembly directory. */
export function listStages(dir: string): string[] {
  const manifest = readJson<Manifest>(join(dir, 'manifest.json'));
  return Object.values(manifest.artifacts ?? {})
    .filter((a) => a.type === 'cdk:cloud-assembly')
    .map((a) => String(a.properties?.['displayName'] ?? a.properties?.['directoryName']));
}

/**
 * Reads one stage of a cloud assembly.
 *
 * @example
 * const stage = readAssembly('cdk.out', { stage: 'Local' });
 * stage.physicalName(stage.resourcesOfType('AWS::S3::Bucket')[0]); // 'local-data-lake5f1b88ea'
 */
export function readAssembly(dir: string, options: ReadAssemblyOptions = {}): LocalStage {
  const root = resolvePath(dir);
  if (!existsSync(join(root, 'manifest.json'))) {
    throw new Error(`${root} is not a cloud assembly: it has no manifest.json (run \`cdk synth\` first)`);
  }
  const manifest = readJson<Manifest>(join(root, 'manifest.json'));
  const nested = Object.entries(manifest.artifacts ?? {}).filter(([, a]) => a.type === 'cdk:cloud-assembly');
  let stageDir = root;
  let stageName = options.stage ?? '';
  if (options.stage !== undefined || nested.length > 0) {
    const wanted = options.stage;
    const match = nested.find(
      ([id, a]) =>
        wanted === undefined ||
        a.properties?.['displayName'] === wanted ||
        a.properties?.['directoryName'] === `assembly-${wanted}` ||
        id === `assembly-${wanted}`,
    );
    if (!match || (wanted === undefined && nested.length > 1)) {
      const names = nested.map(([, a]) => String(a.properties?.['displayName'])).join(', ') || '(none)';
      throw new Error(
        wanted === undefined
          ? `The cloud assembly in ${root} has several stages (${names}); name one`
          : `Stage '${wanted}' is not in the cloud assembly in ${root}; its stages are: ${names}`,
      );
    }
    stageDir = join(root, String(match[1].properties?.['directoryName']));
    stageName = String(match[1].properties?.['displayName'] ?? stageName);
  }
  return new LocalStage(root, stageDir, stageName, options);
}

/**
 * One stage of the assembly: its stacks, resources, exports, and the intrinsic resolution that
 * gives every resource its local name and ARN.
 */
export class LocalStage {
  readonly stacks: readonly AssemblyStack[];
  readonly resources: readonly AssemblyResource[];
  /** Construct metadata of every stack, other than CDK's own (`aws:cdk:*`). */
  readonly constructMetadata: readonly ConstructMetadata[];
  /** The stage's account and region (from its first stack's environment). */
  readonly account: string;
  readonly region: string;
  private readonly byStack = new Map<string, Map<string, AssemblyResource>>();
  private readonly names = new Map<AssemblyResource, string>();
  private readonly resolving = new Set<AssemblyResource>();
  private readonly scopes = new Map<string, IntrinsicScope>();
  private exportsCache: Map<string, { stackName: string; value: unknown }> | undefined;

  constructor(
    /** The top-level assembly directory. */
    readonly assemblyDir: string,
    /** The directory holding this stage's templates (a nested assembly, or the top level). */
    readonly stageDir: string,
    readonly stageName: string,
    private readonly options: ReadAssemblyOptions = {},
  ) {
    const manifest = readJson<Manifest>(join(stageDir, 'manifest.json'));
    const stacks: AssemblyStack[] = [];
    const resources: AssemblyResource[] = [];
    const constructMetadata: ConstructMetadata[] = [];
    for (const [artifactId, artifact] of Object.entries(manifest.artifacts ?? {})) {
      if (artifact.type !== 'aws:cloudformation:stack') continue;
      const props = artifact.properties ?? {};
      const template = readJson<CfnTemplate>(join(stageDir, String(props['templateFile'])));
      const env = parseEnvironment(artifact.environment);
      const stack: AssemblyStack = {
        artifactId,
        stackName: String(props['stackName'] ?? artifactId),
        displayName: artifact.displayName ?? artifactId,
        account: env.account,
        region: env.region,
        template,
        dependencies: (artifact.dependencies ?? []).filter((d) => !d.endsWith('.assets')),
      };
      stacks.push(stack);
      const metadata = stackMetadata(stageDir, artifact);
      const paths = logicalIdPaths(metadata);
      for (const [path, entries] of Object.entries(metadata)) {
        for (const e of entries) {
          if (e.type.startsWith('aws:cdk:')) continue;
          const constructPath = path.replace(/^\//, '');
          constructMetadata.push({ stackName: stack.stackName, constructPath, type: e.type, data: e.data });
        }
      }
      const assets = assetsByObjectKey(stageDir, artifactId);
      const mine = new Map<string, AssemblyResource>();
      for (const [logicalId, res] of Object.entries(template.Resources ?? {})) {
        const metadata = res.Metadata ?? {};
        const r: AssemblyResource = {
          stackName: stack.stackName,
          logicalId,
          type: res.Type,
          rawProperties: res.Properties ?? {},
          metadata,
          constructPath: (metadata['aws:cdk:path'] as string | undefined) ?? paths.get(logicalId),
          asset: assetOf(stageDir, res, assets),
          condition: res.Condition,
        };
        resources.push(r);
        mine.set(logicalId, r);
      }
      this.byStack.set(stack.stackName, mine);
    }
    this.stacks = stacks;
    this.constructMetadata = constructMetadata;
    this.account = stacks[0]?.account ?? DEFAULT_LOCAL_ACCOUNT;
    this.region = stacks[0]?.region ?? DEFAULT_LOCAL_REGION;
    // Resources under a false condition are not created by CloudFormation either.
    this.resources = resources.filter((r) => !r.condition || this.conditionHolds(r));
  }

  /** The stack with this stack name, display name (`Local/Data`) or artifact id. */
  stack(name: string): AssemblyStack {
    const s = this.stacks.find(
      (x) => x.stackName === name || x.displayName === name || x.artifactId === name,
    );
    if (!s) throw new Error(`Stack '${name}' is not in stage '${this.stageName}'`);
    return s;
  }

  /** The resource with this logical id in this stack; throws naming both when absent. */
  resource(stackName: string, logicalId: string): AssemblyResource {
    const r = this.byStack.get(this.stack(stackName).stackName)?.get(logicalId);
    if (!r) throw new Error(`Resource '${logicalId}' is not in stack '${stackName}'`);
    return r;
  }

  resourcesOfType(type: string): AssemblyResource[] {
    return this.resources.filter((r) => r.type === type);
  }

  /** The resource whose construct path is `path` or `path/Resource` (e.g. `Local/Data/Lake`). */
  resourceAt(path: string): AssemblyResource | undefined {
    const p = path.replace(/^\//, '');
    return this.resources.find((r) => r.constructPath === p || r.constructPath === `${p}/Resource`);
  }

  /** The resource's properties with every intrinsic resolved. */
  properties(r: AssemblyResource): Record<string, unknown> {
    return this.resolve(r.stackName, r.rawProperties) as Record<string, unknown>;
  }

  /** Resolves intrinsics in `value` as the named stack would. */
  resolve(stackName: string, value: unknown): unknown {
    return resolveIntrinsics(value, this.scope(stackName));
  }

  /** Exports of the stage's stacks by export name, resolved. */
  exports(): Map<string, unknown> {
    const out = new Map<string, unknown>();
    for (const [name, e] of this.exportTable()) out.set(name, this.resolve(e.stackName, e.value));
    return out;
  }

  /**
   * The local physical name: an explicit name property when the template sets one, else
   * `<stackName>-<logicalId>` shaped to the service's naming rules.
   */
  physicalName(r: AssemblyResource): string {
    const cached = this.names.get(r);
    if (cached) return cached;
    if (this.resolving.has(r)) {
      throw new IntrinsicError(`Circular reference while naming ${r.logicalId} in stack ${r.stackName}`);
    }
    this.resolving.add(r);
    try {
      const spec = specOf(r.type);
      const explicit = spec.nameProperty && pick(r.rawProperties, spec.nameProperty);
      const name =
        explicit !== undefined && explicit !== null
          ? String(this.resolve(r.stackName, explicit))
          : generatedName(r, spec.naming);
      this.names.set(r, name);
      return name;
    } finally {
      this.resolving.delete(r);
    }
  }

  /** What `Ref` returns for the resource, as CloudFormation documents per type. */
  ref(r: AssemblyResource): string {
    const spec = specOf(r.type);
    return spec.ref ? spec.ref(this.ctx(r)) : this.physicalName(r);
  }

  /** The resource's ARN (what `Fn::GetAtt <id>.Arn` returns, where the type has one). */
  arn(r: AssemblyResource): string {
    return String(this.getAtt(r, 'Arn'));
  }

  /** `Fn::GetAtt`; an attribute the local model does not know fails naming resource and attribute. */
  getAtt(r: AssemblyResource, attribute: string): unknown {
    const spec = specOf(r.type);
    const fn = spec.attributes?.[attribute] ?? (attribute === 'Arn' && spec.arn ? spec.arn : undefined);
    if (!fn) {
      const known = [...Object.keys(spec.attributes ?? {}), ...(spec.arn ? ['Arn'] : [])];
      throw new IntrinsicError(
        `Fn::GetAtt ${r.logicalId}.${attribute} (${r.type} in stack ${r.stackName}): attribute '${attribute}' is not modelled locally; known: ${known.join(', ') || 'none'}`,
      );
    }
    return fn(this.ctx(r));
  }

  private ctx(r: AssemblyResource): NameContext {
    const stack = this.stack(r.stackName);
    return {
      name: () => this.physicalName(r),
      prop: (key) => this.resolve(r.stackName, r.rawProperties[key]),
      account: stack.account,
      region: stack.region,
      partition: 'aws',
      seed: `${r.stackName}/${r.logicalId}`,
    };
  }

  private conditionHolds(r: AssemblyResource): boolean {
    return resolveIntrinsics({ Condition: r.condition }, this.scope(r.stackName)) === true;
  }

  private exportTable(): Map<string, { stackName: string; value: unknown }> {
    if (this.exportsCache) return this.exportsCache;
    const table = new Map<string, { stackName: string; value: unknown }>();
    for (const s of this.stacks) {
      for (const [id, o] of Object.entries(s.template.Outputs ?? {})) {
        if (!o.Export) continue;
        const name = String(
          resolveIntrinsics(o.Export.Name, this.scope(s.stackName), `Outputs.${id}.Export.Name`),
        );
        table.set(name, { stackName: s.stackName, value: o.Value });
      }
    }
    this.exportsCache = table;
    return table;
  }

  private scope(stackName: string): IntrinsicScope {
    const cached = this.scopes.get(stackName);
    if (cached) return cached;
    const stack = this.stack(stackName);
    const resources = this.byStack.get(stack.stackName)!;
    const lookup = (id: string): AssemblyResource => {
      const r = resources.get(id);
      if (!r)
        throw new IntrinsicError(`Fn::GetAtt names '${id}', which is not a resource in stack ${stackName}`);
      return r;
    };
    const scope: IntrinsicScope = {
      stackName: stack.stackName,
      region: stack.region,
      accountId: stack.account,
      parameters: stack.template.Parameters,
      parameterValues: this.options.parameterValues,
      ssmParameters: this.options.ssmParameters,
      conditions: stack.template.Conditions,
      mappings: stack.template.Mappings,
      ref: (id) => {
        const r = resources.get(id);
        return r ? this.ref(r) : undefined;
      },
      getAtt: (id, attr) => this.getAtt(lookup(id), attr),
      importValue: (name) => {
        const e = this.exportTable().get(name);
        if (!e) {
          throw new IntrinsicError(
            `Fn::ImportValue '${name}' in stack ${stackName}: no stack of stage '${this.stageName}' exports it`,
          );
        }
        return this.resolve(e.stackName, e.value);
      },
    };
    this.scopes.set(stackName, scope);
    return scope;
  }
}

// ---------------------------------------------------------------------------------------------
// Per-type naming, Ref and GetAtt, as CloudFormation documents them for the types the kit uses.

interface NameContext {
  name(): string;
  prop(key: string): unknown;
  readonly account: string;
  readonly region: string;
  readonly partition: string;
  /** `<stack>/<logicalId>`, for ids CloudFormation would generate. */
  readonly seed: string;
}

type Naming = { max: number; lower: boolean; allowed: RegExp; min?: number };

interface TypeSpec {
  /** Where an explicit name sits (`BucketName`, `TableInput.Name`). */
  nameProperty?: string;
  naming: Naming;
  ref?: (c: NameContext) => string;
  arn?: (c: NameContext) => string;
  attributes?: Record<string, (c: NameContext) => unknown>;
}

const GENERIC: Naming = { max: 64, lower: false, allowed: /[^A-Za-z0-9_-]/g };
const arnOf = (c: NameContext, service: string, resource: string, regional = true) =>
  `arn:${c.partition}:${service}:${regional ? c.region : ''}:${service === 's3' ? '' : c.account}:${resource}`;

const SPECS: Record<string, TypeSpec> = {
  'AWS::S3::Bucket': {
    nameProperty: 'BucketName',
    // S3: 3-63 chars, lowercase letters, digits, hyphens and dots.
    naming: { max: 63, min: 3, lower: true, allowed: /[^a-z0-9.-]/g },
    arn: (c) => `arn:${c.partition}:s3:::${c.name()}`,
    attributes: {
      DomainName: (c) => `${c.name()}.s3.amazonaws.com`,
      RegionalDomainName: (c) => `${c.name()}.s3.${c.region}.amazonaws.com`,
      DualStackDomainName: (c) => `${c.name()}.s3.dualstack.${c.region}.amazonaws.com`,
      WebsiteURL: (c) => `http://${c.name()}.s3-website-${c.region}.amazonaws.com`,
    },
  },
  'AWS::DynamoDB::Table': {
    nameProperty: 'TableName',
    naming: { max: 255, min: 3, lower: true, allowed: /[^a-z0-9_.-]/g },
    arn: (c) => arnOf(c, 'dynamodb', `table/${c.name()}`),
    attributes: {
      // A fixed stream label keeps the ARN stable across restarts.
      StreamArn: (c) => `${arnOf(c, 'dynamodb', `table/${c.name()}`)}/stream/1970-01-01T00:00:00.000`,
    },
  },
  'AWS::DynamoDB::GlobalTable': {
    nameProperty: 'TableName',
    naming: { max: 255, min: 3, lower: true, allowed: /[^a-z0-9_.-]/g },
    arn: (c) => arnOf(c, 'dynamodb', `table/${c.name()}`),
    attributes: {
      StreamArn: (c) => `${arnOf(c, 'dynamodb', `table/${c.name()}`)}/stream/1970-01-01T00:00:00.000`,
      TableId: (c) => uuidFrom(c.seed),
    },
  },
  'AWS::Lambda::Function': {
    nameProperty: 'FunctionName',
    naming: { max: 64, lower: true, allowed: /[^a-z0-9_-]/g },
    arn: (c) => arnOf(c, 'lambda', `function:${c.name()}`),
  },
  'AWS::Lambda::Alias': {
    naming: GENERIC,
    ref: (c) => arnOf(c, 'lambda', `function:${c.name()}`),
  },
  'AWS::Lambda::Version': {
    naming: GENERIC,
    ref: (c) => `${String(c.prop('FunctionName'))}:1`,
    attributes: { Version: () => '1' },
  },
  'AWS::StepFunctions::StateMachine': {
    nameProperty: 'StateMachineName',
    naming: { max: 80, lower: true, allowed: /[^a-z0-9_-]/g },
    ref: (c) => arnOf(c, 'states', `stateMachine:${c.name()}`),
    arn: (c) => arnOf(c, 'states', `stateMachine:${c.name()}`),
    attributes: { Name: (c) => c.name(), StateMachineRevisionId: () => 'INITIAL' },
  },
  'AWS::IAM::Role': {
    nameProperty: 'RoleName',
    naming: { max: 64, lower: false, allowed: /[^A-Za-z0-9+=,.@_-]/g },
    arn: (c) => `arn:${c.partition}:iam::${c.account}:role/${c.name()}`,
    attributes: { RoleId: (c) => `AROA${hash(c.seed, 17).toUpperCase()}` },
  },
  'AWS::IAM::Policy': { naming: GENERIC },
  'AWS::IAM::ManagedPolicy': {
    nameProperty: 'ManagedPolicyName',
    naming: { max: 128, lower: false, allowed: /[^A-Za-z0-9+=,.@_-]/g },
    ref: (c) => `arn:${c.partition}:iam::${c.account}:policy/${c.name()}`,
  },
  'AWS::KMS::Key': {
    naming: GENERIC,
    ref: (c) => uuidFrom(c.seed),
    arn: (c) => arnOf(c, 'kms', `key/${uuidFrom(c.seed)}`),
    attributes: { KeyId: (c) => uuidFrom(c.seed) },
  },
  'AWS::KMS::Alias': { nameProperty: 'AliasName', naming: GENERIC },
  'AWS::Glue::Database': {
    nameProperty: 'DatabaseInput.Name',
    naming: { max: 255, lower: true, allowed: /[^a-z0-9_]/g },
  },
  'AWS::Glue::Table': {
    nameProperty: 'TableInput.Name',
    naming: { max: 255, lower: true, allowed: /[^a-z0-9_]/g },
  },
  'AWS::Athena::WorkGroup': {
    nameProperty: 'Name',
    naming: { max: 128, lower: false, allowed: /[^A-Za-z0-9._-]/g },
    attributes: { CreationTime: () => '1970-01-01T00:00:00Z' },
  },
  'AWS::SNS::Topic': {
    nameProperty: 'TopicName',
    naming: { max: 256, lower: false, allowed: /[^A-Za-z0-9_-]/g },
    ref: (c) => arnOf(c, 'sns', c.name()),
    attributes: { TopicArn: (c) => arnOf(c, 'sns', c.name()), TopicName: (c) => c.name() },
  },
  'AWS::SQS::Queue': {
    nameProperty: 'QueueName',
    naming: { max: 80, lower: false, allowed: /[^A-Za-z0-9_-]/g },
    ref: (c) => `https://sqs.${c.region}.amazonaws.com/${c.account}/${c.name()}`,
    arn: (c) => arnOf(c, 'sqs', c.name()),
    attributes: {
      QueueName: (c) => c.name(),
      QueueUrl: (c) => `https://sqs.${c.region}.amazonaws.com/${c.account}/${c.name()}`,
    },
  },
  'AWS::Events::EventBus': {
    nameProperty: 'Name',
    naming: { max: 256, lower: false, allowed: /[^A-Za-z0-9._-]/g },
    arn: (c) => arnOf(c, 'events', `event-bus/${c.name()}`),
    attributes: { Name: (c) => c.name() },
  },
  'AWS::Events::Rule': {
    nameProperty: 'Name',
    naming: { max: 64, lower: false, allowed: /[^A-Za-z0-9._-]/g },
    arn: (c) => arnOf(c, 'events', `rule/${c.name()}`),
  },
  'AWS::Scheduler::Schedule': {
    nameProperty: 'Name',
    naming: { max: 64, lower: false, allowed: /[^A-Za-z0-9._-]/g },
    arn: (c) => arnOf(c, 'scheduler', `schedule/default/${c.name()}`),
  },
  'AWS::Logs::LogGroup': {
    nameProperty: 'LogGroupName',
    naming: { max: 512, lower: false, allowed: /[^A-Za-z0-9_./#-]/g },
    arn: (c) => arnOf(c, 'logs', `log-group:${c.name()}:*`),
  },
  'AWS::SSM::Parameter': {
    nameProperty: 'Name',
    naming: { max: 2048, lower: false, allowed: /[^A-Za-z0-9_./-]/g },
  },
  'AWS::ApiGateway::RestApi': {
    naming: GENERIC,
    // API ids are 10 lowercase alphanumerics.
    ref: (c) => hash(c.seed, 10),
    attributes: { RootResourceId: (c) => hash(`${c.seed}/root`, 10), RestApiId: (c) => hash(c.seed, 10) },
  },
  'AWS::ApiGateway::Resource': { naming: GENERIC, ref: (c) => hash(c.seed, 10) },
  'AWS::ApiGateway::Deployment': { naming: GENERIC, ref: (c) => hash(c.seed, 10) },
  'AWS::ApiGateway::Stage': { nameProperty: 'StageName', naming: GENERIC },
  'AWS::ApiGatewayV2::Api': {
    naming: GENERIC,
    ref: (c) => hash(c.seed, 10),
    attributes: {
      ApiId: (c) => hash(c.seed, 10),
      ApiEndpoint: (c) => `https://${hash(c.seed, 10)}.execute-api.${c.region}.amazonaws.com`,
    },
  },
  'AWS::SageMaker::Model': {
    nameProperty: 'ModelName',
    naming: { max: 63, lower: false, allowed: /[^A-Za-z0-9-]/g },
    ref: (c) => arnOf(c, 'sagemaker', `model/${c.name().toLowerCase()}`),
    attributes: { ModelName: (c) => c.name() },
  },
  'AWS::ECR::Repository': {
    nameProperty: 'RepositoryName',
    naming: { max: 256, lower: true, allowed: /[^a-z0-9._/-]/g },
    arn: (c) => arnOf(c, 'ecr', `repository/${c.name()}`),
    attributes: { RepositoryUri: (c) => `${c.account}.dkr.ecr.${c.region}.amazonaws.com/${c.name()}` },
  },
};

function specOf(type: string): TypeSpec {
  return SPECS[type] ?? { naming: GENERIC };
}

function pick(obj: Record<string, unknown>, dotted: string): unknown {
  let cur: unknown = obj;
  for (const k of dotted.split('.')) cur = (cur as Record<string, unknown> | undefined)?.[k];
  return cur;
}

function hash(seed: string, len: number): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, len);
}

/**
 * `<stackName>-<logicalId>` in the service's alphabet; when too long, cut and suffixed with a
 * short hash of the full name so two long ids sharing a prefix still get distinct names.
 */
function generatedName(r: AssemblyResource, naming: Naming): string {
  let name = `${r.stackName}-${r.logicalId}`;
  if (naming.lower) name = name.toLowerCase();
  name = name.replace(naming.allowed, '-').replace(/-+/g, '-');
  if (name.length > naming.max) {
    const suffix = hash(`${r.stackName}/${r.logicalId}`, 8);
    name = `${name.slice(0, naming.max - suffix.length - 1).replace(/[-.]+$/, '')}-${suffix}`;
  }
  name = name.replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  if (name.length < (naming.min ?? 1)) name = name.padEnd(naming.min ?? 1, '0');
  return name;
}

function parseEnvironment(env: string | undefined): { account: string; region: string } {
  const m = /^aws:\/\/([^/]+)\/(.+)$/.exec(env ?? '');
  const account = m?.[1] && m[1] !== 'unknown-account' ? m[1] : DEFAULT_LOCAL_ACCOUNT;
  const region = m?.[2] && m[2] !== 'unknown-region' ? m[2] : DEFAULT_LOCAL_REGION;
  return { account, region };
}

type MetadataMap = Record<string, { type: string; data: unknown }[]>;

/** A stack's construct metadata: in the manifest, or in the file it names when large. */
function stackMetadata(
  stageDir: string,
  artifact: { additionalMetadataFile?: string; metadata?: MetadataMap },
): MetadataMap {
  return (
    artifact.metadata ??
    (artifact.additionalMetadataFile && existsSync(join(stageDir, artifact.additionalMetadataFile))
      ? readJson<MetadataMap>(join(stageDir, artifact.additionalMetadataFile))
      : {})
  );
}

/** Logical id → construct path from the stack's metadata (present even without path metadata). */
function logicalIdPaths(metadata: MetadataMap): Map<string, string> {
  const out = new Map<string, string>();
  for (const [path, entries] of Object.entries(metadata)) {
    for (const e of entries) {
      if (e.type === 'aws:cdk:logicalId' && typeof e.data === 'string')
        out.set(e.data, path.replace(/^\//, ''));
    }
  }
  return out;
}

/** S3 object key of each file asset → its source path, from `<artifact>.assets.json`. */
function assetsByObjectKey(stageDir: string, artifactId: string): Map<string, string> {
  const file = join(stageDir, `${artifactId}.assets.json`);
  const out = new Map<string, string>();
  if (!existsSync(file)) return out;
  const manifest = readJson<{
    files?: Record<
      string,
      { source: { path?: string }; destinations: Record<string, { objectKey: string }> }
    >;
  }>(file);
  for (const f of Object.values(manifest.files ?? {})) {
    if (!f.source.path) continue;
    for (const d of Object.values(f.destinations)) out.set(d.objectKey, f.source.path);
  }
  return out;
}

function assetOf(stageDir: string, res: CfnResource, assets: Map<string, string>): AssetRef | undefined {
  const path = res.Metadata?.['aws:asset:path'];
  const property = res.Metadata?.['aws:asset:property'];
  if (typeof path === 'string')
    return { path: resolvePath(stageDir, path), property: String(property ?? 'Code') };
  // Without asset metadata (synth outside the CLI) the Code's S3Key still names the asset.
  const key = (res.Properties?.['Code'] as { S3Key?: unknown } | undefined)?.S3Key;
  if (typeof key === 'string' && assets.has(key))
    return { path: resolvePath(stageDir, assets.get(key)!), property: 'Code' };
  return undefined;
}

/** A file of the cloud assembly that cannot be read or parsed (a truncated write, a hand edit). */
export class AssemblyReadError extends Error {
  override readonly name = 'AssemblyReadError';
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file} cannot be read: ${reason}`);
  }
}

function readJson<T>(file: string): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new AssemblyReadError(file, (err as Error).message);
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new AssemblyReadError(file, `${(err as Error).message} (${text.length} bytes)`);
  }
}
