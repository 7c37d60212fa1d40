/**
 * Request-rate autoscaling for the model pods: KEDA, installed from its Helm chart into `keda`,
 * turns each predictor's `kedaSpec` (rendered by the deployer, lib/serving-infra/seldon.ts) into a
 * ScaledObject and its HorizontalPodAutoscaler, scaling on the larger of two signals: CPU, and the
 * version's `Requests` per minute in CloudWatch (the model servers' counter, scraped by the
 * CloudWatch agent; lib/serving-infra/metrics-agent.ts) against a per-pod target.
 *
 * Why KEDA: a HorizontalPodAutoscaler reads only the resource metrics API (CPU, memory) unless a
 * custom or external metrics adapter serves more; KEDA is that adapter for CloudWatch, and Seldon
 * Core 1.17 renders `kedaSpec` natively (its operator flag `keda.enabled`).
 *
 * Least privilege through EKS Pod Identity: only KEDA's operator reads CloudWatch
 * (`cloudwatch:GetMetricData`, which authorizes on Resource "*" only); the scalers use it through the
 * ClusterTriggerAuthentication `mlops-cloudwatch` (`podIdentity.provider: aws`), so no credential is
 * stored in the cluster. KEDA's images come through the environment's ghcr.io pull-through cache,
 * pinned by digest.
 *
 * @example
 * new RequestAutoscaler(this, 'RequestAutoscaler', { cluster, images: { operator, metricsApiServer, webhooks }, registry: mirror.ghcrRegistry });
 */
import { Validations } from 'aws-cdk-lib';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { PinnedImage } from '../serving-infra/images';
import { KEDA_CLOUDWATCH_AUTH } from '../serving-infra/seldon';
import { complianceAcks, INLINE_POLICY_REASON } from './nag';

/** The chart KEDA comes from (kedacore/charts, Apache-2.0); its images are this release's. */
export const KEDA_CHART = {
  chart: 'keda',
  repository: 'https://kedacore.github.io/charts',
  version: '2.20.2',
} as const;

export const KEDA_NAMESPACE = 'keda';
export const KEDA_OPERATOR_SERVICE_ACCOUNT = 'keda-operator';

export interface KedaImages {
  readonly operator: PinnedImage;
  readonly metricsApiServer: PinnedImage;
  readonly webhooks: PinnedImage;
}

export interface RequestAutoscalerProps {
  readonly cluster: eks.Cluster;
  /** KEDA's images, pinned (`ImageMirror.ghcrPinned`). */
  readonly images: KedaImages;
  /** `<registry host>/<prefix>` of the ghcr.io pull-through cache (`ImageMirror.ghcrRegistry`). */
  readonly registry: string;
  /** Constructs the chart must follow (the node group, so KEDA's pods have somewhere to run). */
  readonly dependsOn?: readonly Construct[];
}

export class RequestAutoscaler extends Construct {
  readonly serviceAccount: eks.ServiceAccount;
  readonly chart: eks.HelmChart;
  /** The ClusterTriggerAuthentication the predictors' CloudWatch triggers name. */
  readonly triggerAuthentication: eks.KubernetesManifest;

  constructor(scope: Construct, id: string, props: RequestAutoscalerProps) {
    super(scope, id);
    const { cluster } = props;
    const namespace = cluster.addManifest('Namespace', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: KEDA_NAMESPACE, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
    });
    this.serviceAccount = cluster.addServiceAccount('KedaOperator', {
      name: KEDA_OPERATOR_SERVICE_ACCOUNT,
      namespace: KEDA_NAMESPACE,
      identityType: eks.IdentityType.POD_IDENTITY,
    });
    this.serviceAccount.node.addDependency(namespace);
    this.serviceAccount.addToPrincipalPolicy(
      new iam.PolicyStatement({
        // GetMetricData authorizes on Resource "*" only; it reads, and only metrics.
        actions: ['cloudwatch:GetMetricData'],
        resources: ['*'],
      }),
    );
    Validations.of(this.serviceAccount.role).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          "KEDA's CloudWatch scaler reads the model servers' request counts with cloudwatch:GetMetricData, which supports no resource-level permission (Resource must be \"*\"); the role holds that one read action and nothing else.",
      },
      ...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON),
    );
    const image = (i: PinnedImage) => ({ registry: props.registry, repository: i.repository, tag: `${i.tag}@${i.digest}` });
    this.chart = cluster.addHelmChart('Keda', {
      ...KEDA_CHART,
      release: 'keda',
      namespace: KEDA_NAMESPACE,
      createNamespace: false,
      wait: true,
      values: kedaValues({
        operator: image(props.images.operator),
        metricsApiServer: image(props.images.metricsApiServer),
        webhooks: image(props.images.webhooks),
      }),
    });
    this.chart.node.addDependency(this.serviceAccount, ...(props.dependsOn ?? []));
    this.triggerAuthentication = cluster.addManifest('CloudWatchAuthentication', {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ClusterTriggerAuthentication',
      metadata: { name: KEDA_CLOUDWATCH_AUTH },
      spec: { podIdentity: { provider: 'aws' } },
    });
    // The kind exists once the chart has installed KEDA's CRDs.
    this.triggerAuthentication.node.addDependency(this.chart);
  }
}

type ChartImage = { registry: string; repository: string; tag: string };

/** The chart's values: the kit's images and service account; the chart's own pod hardening stays on. */
export function kedaValues(images: { operator: ChartImage; metricsApiServer: ChartImage; webhooks: ChartImage }): Record<string, unknown> {
  return {
    image: { keda: images.operator, metricsApiServer: images.metricsApiServer, webhooks: images.webhooks, pullPolicy: 'IfNotPresent' },
    serviceAccount: { operator: { create: false, name: KEDA_OPERATOR_SERVICE_ACCOUNT } },
    crds: { install: true },
    operator: { replicaCount: 1 },
  };
}
