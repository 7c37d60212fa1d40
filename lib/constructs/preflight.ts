/**
 * Deploy preflight: account quotas a stage's templates can exceed by construction, checked at
 * synthesis so `cdk synth` says what `cdk deploy` would otherwise find out halfway through (the
 * last stack to deploy fails, the others stay).
 *
 * One stage is one environment, deployed to one account and region, so each sum runs over every
 * stack of the stage. The checks are pure functions of what the stage's resources declare; the
 * validation added by {@link addDeployPreflight} reads those from the construct tree, so a
 * function or API added to any stack is counted without being listed here.
 *
 * @example
 * addDeployPreflight(stage, config); // in MlopsStage; `app.synth()` then fails with the sentences
 */
import { Stack, type Stage } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import { type EnvironmentConfig, LAMBDA_UNRESERVED_MINIMUM } from '../config';

/** A function that reserves concurrency, named by its construct path within the stage. */
export interface ReservedFunction {
  readonly name: string;
  readonly reserved: number;
}

/** An API Gateway stage with stage-wide throttling. */
export interface ThrottledApi {
  readonly name: string;
  readonly rateLimit: number;
  readonly burstLimit: number;
}

/** A node group and the subnets its nodes (and, with the VPC CNI, their pods) take addresses from. */
export interface NodeGroupAddressing {
  readonly name: string;
  readonly maxNodes: number;
  readonly instanceType: string;
  /** The prefix lengths of the node subnets (19 for a /19). */
  readonly subnetPrefixLengths: readonly number[];
}

type Quotas = EnvironmentConfig['accountQuotas'];

/** `Registry/Registry/Function 100, FeatureStore/FeatureServer/Function 100` */
const listed = (entries: readonly (readonly [string, number])[]): string =>
  entries.map(([name, value]) => `${name} ${value}`).join(', ');

/**
 * Reserved concurrency must leave the 100 executions Lambda keeps unreserved: a
 * PutFunctionConcurrency that would go below them fails the deployment.
 */
export function checkReservedConcurrency(functions: readonly ReservedFunction[], quotas: Quotas): string[] {
  const total = functions.reduce((sum, f) => sum + f.reserved, 0);
  const allowed = quotas.lambdaConcurrency - LAMBDA_UNRESERVED_MINIMUM;
  if (total <= allowed) return [];
  return [
    `reserved concurrency must total at most ${allowed} (accountQuotas.lambdaConcurrency ${quotas.lambdaConcurrency} minus the ${LAMBDA_UNRESERVED_MINIMUM} Lambda keeps unreserved), ` +
      `but ${total} was provided: ${listed(functions.map((f) => [f.name, f.reserved]))}. ` +
      'Lower lambda.reservedConcurrency, or set accountQuotas.lambdaConcurrency to the quota Service Quotas shows.',
  ];
}

/**
 * Every REST API stage of a region draws on one account-level throttle: stage limits that add up
 * to more can never all be reached, so the promise the config makes is one the account breaks.
 */
export function checkApiThrottling(apis: readonly ThrottledApi[], quotas: Quotas): string[] {
  const problems: string[] = [];
  const rate = apis.reduce((sum, a) => sum + a.rateLimit, 0);
  const burst = apis.reduce((sum, a) => sum + a.burstLimit, 0);
  if (rate > quotas.apiGatewayThrottleRps) {
    problems.push(
      `API Gateway stage rate limits must total at most ${quotas.apiGatewayThrottleRps} requests per second (accountQuotas.apiGatewayThrottleRps), ` +
        `but ${rate} was provided: ${listed(apis.map((a) => [a.name, a.rateLimit]))}. Lower api.throttleRateLimit, or raise the account limit and accountQuotas with it.`,
    );
  }
  if (burst > quotas.apiGatewayThrottleBurst) {
    problems.push(
      `API Gateway stage burst limits must total at most ${quotas.apiGatewayThrottleBurst} requests (accountQuotas.apiGatewayThrottleBurst), ` +
        `but ${burst} was provided: ${listed(apis.map((a) => [a.name, a.burstLimit]))}. Lower api.throttleBurstLimit, or raise the account limit and accountQuotas with it.`,
    );
  }
  return problems;
}

/**
 * Network interfaces and IPv4 addresses per interface, by instance size, for the general purpose,
 * compute and memory families (m5+, c5+, r5+, their g/i/a variants) and t3: the VPC CNI attaches
 * every interface of a busy node and fills it with pod addresses. Where families differ at a size,
 * the larger figure is kept, so the check errs on the side of refusing.
 */
const ENI_LIMITS: Record<string, readonly [enis: number, ipsPerEni: number]> = {
  nano: [2, 2],
  micro: [2, 2],
  small: [3, 4],
  medium: [3, 6],
  large: [3, 12],
  xlarge: [4, 15],
  '2xlarge': [4, 15],
  '4xlarge': [8, 30],
  '8xlarge': [8, 30],
  '12xlarge': [8, 30],
  '16xlarge': [15, 50],
  '24xlarge': [15, 50],
  '32xlarge': [15, 50],
  '48xlarge': [15, 50],
  metal: [15, 50],
};
/** For a size not in the table: the largest figure there. */
const ENI_LIMITS_UNKNOWN: readonly [number, number] = [15, 50];

/** The addresses one node can take from its subnet with the VPC CNI: every interface, filled. */
export function addressesPerNode(instanceType: string): number {
  const [enis, ips] = ENI_LIMITS[instanceType.split('.')[1] ?? ''] ?? ENI_LIMITS_UNKNOWN;
  return enis * ips;
}

/** AWS reserves five addresses in every subnet. */
const usableAddresses = (prefixLength: number): number => 2 ** (32 - prefixLength) - 5;

/**
 * A node group at its maximum size, every node full of pods (the VPC CNI gives each pod a subnet
 * address), must fit in its subnets; scaling out would otherwise stall on "insufficient IP
 * addresses" at the moment more capacity is needed.
 */
export function checkNodeAddresses(groups: readonly NodeGroupAddressing[]): string[] {
  return groups.flatMap((g) => {
    const needed = g.maxNodes * addressesPerNode(g.instanceType);
    const available = g.subnetPrefixLengths.reduce((sum, p) => sum + usableAddresses(p), 0);
    if (needed <= available) return [];
    return [
      `node group ${g.name} must fit its nodes and pods in its subnets' ${available} addresses, ` +
        `but ${needed} was provided (${g.maxNodes} nodes of ${g.instanceType} at ${addressesPerNode(g.instanceType)} VPC CNI addresses each). ` +
        'Lower serving.maxNodes or choose an instance type with fewer interfaces.',
    ];
  });
}

/** A construct's path within its stage, without the L1's `Resource` leaf. */
const nameIn = (stage: Stage, c: IConstruct): string =>
  c.node.path
    .slice(stage.node.path.length + 1)
    .replace(/\/Resource$/, '')
    .replace(/\/Default$/, '');

function numberOf(c: IConstruct, value: unknown): number | undefined {
  const resolved = Stack.of(c).resolve(value);
  return typeof resolved === 'number' ? resolved : undefined;
}

/** What the stage's resources declare, read from the construct tree. */
export function collectStageDemand(stage: Stage): {
  functions: ReservedFunction[];
  apis: ThrottledApi[];
  nodeGroups: NodeGroupAddressing[];
} {
  const all = stage.node.findAll();
  const functions: ReservedFunction[] = [];
  const apis: ThrottledApi[] = [];
  const nodeGroups: NodeGroupAddressing[] = [];
  for (const c of all) {
    if (lambda.CfnFunction.isCfnFunction(c)) {
      const reserved = numberOf(c, c.reservedConcurrentExecutions);
      if (reserved !== undefined) functions.push({ name: nameIn(stage, c), reserved });
    } else if (apigw.CfnStage.isCfnStage(c)) {
      // L1 properties resolve to their camelCase shape; the stage-wide setting ('/*', '*') is the
      // one RestApi's deployOptions throttling renders.
      const settings = Stack.of(c).resolve(c.methodSettings) as apigw.CfnStage.MethodSettingProperty[] | undefined;
      const stageWide = (settings ?? []).find((s) => s.resourcePath === '/*' && s.httpMethod === '*');
      const rateLimit = numberOf(c, stageWide?.throttlingRateLimit);
      const burstLimit = numberOf(c, stageWide?.throttlingBurstLimit);
      if (rateLimit !== undefined && burstLimit !== undefined) {
        apis.push({ name: nameIn(stage, c), rateLimit, burstLimit });
      }
    } else if (eks.CfnNodegroup.isCfnNodegroup(c)) {
      const stack = Stack.of(c);
      const scaling = stack.resolve(c.scalingConfig) as eks.CfnNodegroup.ScalingConfigProperty | undefined;
      const maxNodes = numberOf(c, scaling?.maxSize);
      const instanceType = (stack.resolve(c.instanceTypes) as unknown[] | undefined)?.[0];
      const subnetIds = (stack.resolve(c.subnets) as { Ref?: string }[]).map((s) => s.Ref);
      const subnetPrefixLengths = all
        .filter(ec2.CfnSubnet.isCfnSubnet)
        .filter((s) => Stack.of(s) === stack && subnetIds.includes(stack.resolve(s.logicalId) as string))
        .map((s) => Number(String(stack.resolve(s.cidrBlock)).split('/')[1]));
      if (maxNodes !== undefined && typeof instanceType === 'string' && subnetPrefixLengths.length === subnetIds.length) {
        nodeGroups.push({ name: nameIn(stage, c), maxNodes, instanceType, subnetPrefixLengths });
      }
    }
  }
  return { functions, apis, nodeGroups };
}

/**
 * Makes the stage's synthesis fail when its resources exceed the environment's account quotas
 * (`accountQuotas`), with one sentence per exceeded quota naming the total, the quota and what
 * adds up to it.
 */
export function addDeployPreflight(stage: Stage, config: Pick<EnvironmentConfig, 'accountQuotas'>): void {
  stage.node.addValidation({
    validate: () => {
      const { functions, apis, nodeGroups } = collectStageDemand(stage);
      return [
        ...checkReservedConcurrency(functions, config.accountQuotas),
        ...checkApiThrottling(apis, config.accountQuotas),
        ...checkNodeAddresses(nodeGroups),
      ];
    },
  });
}
