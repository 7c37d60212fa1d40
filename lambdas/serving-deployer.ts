/**
 * The serving deployer: one step of the canary state machine per invocation (`apply`, `status`,
 * `route`, `check`, `promote`, `rollback`), applied to the EKS cluster through its Kubernetes API with a
 * token from the function's own IAM role (an access entry maps it to a namespace-scoped Role).
 * An adapter only: parse, call the core in `lib/serving-infra`, return its result; errors propagate
 * so Step Functions sees them by name (`NotReady` is retried while pods start).
 *
 * Environment: `CLUSTER_NAME`, `CLUSTER_ENDPOINT`, `CLUSTER_CA`, `MODEL_NAMESPACE`, `MODEL_IMAGE`,
 * `MODEL_REPLICAS`, `CANARY_TRAFFIC_PERCENT`, `REQUEST_LOG_URI`, `REQUEST_LOG_SAMPLE_RATE`,
 * `CANARY_ALARM_PREFIX`, `CANARY_ERROR_RATE`, `CANARY_LATENCY_P99_SECONDS`
 * (see lib/serving-infra/requests.ts). CloudWatch holds each canary's own alarms.
 *
 * @example
 * // Step Functions: { "action": "apply", "detail": { "eventId": "…", "modelName": "wine-quality", "version": "5", "artifactUri": "s3://…" } }
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { cloudWatchCanaryAlarms } from '../lib/adapters/cloudwatch/canary-alarms';
import { cloudWatchClient } from '../lib/adapters/clients';
import { handlerEnv } from '../lib/adapters/handler-env';
import { eksToken, httpTransport, KubernetesClient } from '../lib/serving-infra/kubernetes';
import {
  type DeployerResponse,
  deployerEnvironment,
  deployerEnvShape,
  dispatch,
  parseDeployerRequest,
} from '../lib/serving-infra/requests';

const logger = new Logger({ serviceName: 'serving-deployer' });
const env = handlerEnv(deployerEnvShape);
const environment = deployerEnvironment(env);
const alarms = cloudWatchCanaryAlarms(cloudWatchClient(env));
const k8s = new KubernetesClient(
  httpTransport({
    endpoint: environment.clusterEndpoint,
    caData: environment.clusterCa,
    token: () => eksToken({ clusterName: environment.clusterName, region: environment.region }),
  }),
);

export async function handler(event: unknown): Promise<DeployerResponse> {
  const request = parseDeployerRequest(event);
  logger.appendKeys({ action: request.action });
  const result = await dispatch(k8s, environment.settings, request, alarms);
  logger.info('deployer step done', { result });
  return result;
}
