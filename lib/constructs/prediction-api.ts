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
 * const api = new PredictionApi(this, 'Predictions', {
 *   environmentName: 'staging',
 *   loadBalancer: router.loadBalancer,
 *   auth: 'iam',
 *   throttleRateLimit: 50,
 *   throttleBurstLimit: 100,
 *   logsEncryptionKey: lake.logsKey,
 * });
 * api.grantInvoke(clientRole);
 */
import { Duration } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { MlopsApi, type MlopsApiProps } from './mlops-api';
import { integerIn, numberIn, PropsError } from './validate-props';

/** Authorization, throttling, WAF and logging as {@link MlopsApi} takes them; the description is fixed. */
export interface PredictionApiProps extends Omit<MlopsApiProps, 'description'> {
  /** The internal NLB in front of the prediction router. */
  readonly loadBalancer: elbv2.INetworkLoadBalancer;
  /** Names the environment in the API's and the VPC link's descriptions. */
  readonly environmentName: string;
}

/** The routes the API serves, as API Gateway resource paths. */
export const PREDICTION_ROUTES = ['/seldon/{namespace}/{deployment}/{proxy+}', '/v2/{proxy+}'] as const;

export class PredictionApi extends Construct {
  readonly mlopsApi: MlopsApi;
  readonly vpcLink: apigw.VpcLink;

  constructor(scope: Construct, id: string, props: PredictionApiProps) {
    super(scope, id);
    validateProps(props);
    const { loadBalancer, environmentName, ...api } = props;
    this.mlopsApi = new MlopsApi(this, 'Api', {
      ...api,
      description: `mlops-kit ${environmentName} model predictions (Seldon v1, OIP v2)`,
    });
    this.vpcLink = new apigw.VpcLink(this, 'VpcLink', {
      description: `mlops-kit ${environmentName}: API Gateway to the internal prediction NLB`,
      targets: [loadBalancer],
    });
    const authorizationType = props.auth === 'iam' ? apigw.AuthorizationType.IAM : apigw.AuthorizationType.NONE;
    const host = `http://${loadBalancer.loadBalancerDnsName}`;
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

  /**
   * Lets a principal ask for predictions and read models' health and metadata: `POST` and `GET` on
   * the prediction routes, the only methods Seldon and the Open Inference Protocol define.
   */
  grantInvoke(grantee: iam.IGrantable): iam.Grant {
    const prefixes = PREDICTION_ROUTES.map((path) => `${path.slice(0, path.indexOf('/{'))}/*`);
    return this.mlopsApi.grantInvoke(grantee, {
      routes: prefixes.flatMap((path) => ['GET', 'POST'].map((method) => ({ method, path }))),
      name: 'Predict',
      reason:
        "One statement: execute-api:Invoke with GET and POST on the prediction routes (/seldon/*, /v2/*), greedy proxies to the router whose deployments and models are named per request.",
    });
  }
}

function validateProps(props: PredictionApiProps): void {
  if (props.auth !== 'iam' && props.auth !== 'none') {
    throw new PropsError(`PredictionApi auth must be 'iam' or 'none', but ${JSON.stringify(props.auth)} was provided`);
  }
  numberIn('PredictionApi throttleRateLimit', props.throttleRateLimit, 0, Number.MAX_SAFE_INTEGER);
  integerIn('PredictionApi throttleBurstLimit', props.throttleBurstLimit, 0);
}
