/**
 * The prediction API: an {@link MlopsApi} (IAM auth, throttling, access logs, WAF per environment)
 * whose routes go through a VPC link to the internal NLB in front of the prediction router, with
 * the same paths the local gateway serves:
 *
 * - `ANY /seldon/{namespace}/{deployment}/{proxy+}` → `http://<nlb>/seldon/{namespace}/{deployment}/{proxy}` (Seldon v1);
 * - `ANY /v2/{proxy+}` → `http://<nlb>/v2/{proxy}` (Open Inference Protocol v2).
 *
 * MlopsApi only knows Lambda routes; HTTP routes over a VPC link live here rather than in the house
 * construct, which the local gateway reads (it has no VPC link to follow).
 *
 * @example
 * const api = new PredictionApi(this, 'Predictions', { config, loadBalancer: nlb, logsEncryptionKey: lake.logsKey });
 * api.grantInvoke(clientRole);
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../config';
import { MlopsApi } from '../constructs/mlops-api';

export interface PredictionApiProps {
  readonly config: EnvironmentConfig;
  /** The internal NLB in front of the prediction router. */
  readonly loadBalancer: elbv2.INetworkLoadBalancer;
  /**
   * Encrypts the access and WAF logs (the data lake's `logsKey`).
   * @default - CloudWatch Logs' service-owned encryption
   */
  readonly logsEncryptionKey?: kms.IKey;
}

/** The routes the API serves, as API Gateway resource paths. */
export const PREDICTION_ROUTES = ['/seldon/{namespace}/{deployment}/{proxy+}', '/v2/{proxy+}'] as const;

export class PredictionApi extends Construct {
  readonly mlopsApi: MlopsApi;
  readonly vpcLink: apigw.VpcLink;

  constructor(scope: Construct, id: string, props: PredictionApiProps) {
    super(scope, id);
    const { config } = props;
    this.mlopsApi = new MlopsApi(this, 'Api', {
      description: `mlops-kit ${config.name} model predictions (Seldon v1, OIP v2)`,
      auth: config.api.auth,
      throttleRateLimit: config.api.throttleRateLimit,
      throttleBurstLimit: config.api.throttleBurstLimit,
      waf: config.api.waf,
      logRetention: config.logs.retentionDays as logs.RetentionDays,
      logsEncryptionKey: props.logsEncryptionKey,
      removalPolicy: config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.vpcLink = new apigw.VpcLink(this, 'VpcLink', {
      description: `mlops-kit ${config.name}: API Gateway to the internal prediction NLB`,
      targets: [props.loadBalancer],
    });
    const authorizationType =
      config.api.auth === 'iam' ? apigw.AuthorizationType.IAM : apigw.AuthorizationType.NONE;
    const host = `http://${props.loadBalancer.loadBalancerDnsName}`;
    for (const path of PREDICTION_ROUTES) {
      const params = [...path.matchAll(/\{([a-z]+)\+?\}/g)].map((m) => m[1]!);
      const integration = new apigw.Integration({
        type: apigw.IntegrationType.HTTP_PROXY,
        integrationHttpMethod: 'ANY',
        uri: `${host}${path.replace('{proxy+}', '{proxy}')}`,
        options: {
          connectionType: apigw.ConnectionType.VPC_LINK,
          vpcLink: this.vpcLink,
          // API Gateway's own limit; the router's upstream timeout is longer, so this one answers.
          timeout: Duration.seconds(29),
          requestParameters: Object.fromEntries(
            params.map((p) => [`integration.request.path.${p}`, `method.request.path.${p}`]),
          ),
        },
      });
      this.mlopsApi.api.root.resourceForPath(path).addMethod('ANY', integration, {
        authorizationType,
        requestParameters: Object.fromEntries(params.map((p) => [`method.request.path.${p}`, true])),
      });
    }
  }

  /** The stage's share of 5XX answers per minute (0–1), for the canary alarm. */
  metricServerErrorRate(): cloudwatch.IMetric {
    return this.mlopsApi.api.metricServerError({ statistic: 'Average', period: Duration.minutes(1) });
  }

  /** The stage's p99 latency per minute (ms), for the canary alarm. */
  metricLatencyP99(): cloudwatch.IMetric {
    return this.mlopsApi.api.metricLatency({ statistic: 'p99', period: Duration.minutes(1) });
  }

  /** Lets a principal call every prediction route. */
  grantInvoke(grantee: iam.IGrantable): iam.Grant {
    return this.mlopsApi.grantInvoke(grantee);
  }
}
