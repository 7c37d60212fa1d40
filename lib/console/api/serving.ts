/**
 * The prediction routes on the gateway: Seldon v1 (`/seldon/<namespace>/<deployment>/...`) and the
 * Open Inference Protocol v2 (`/v2/models/<model>/...`), and each deployment's `/metrics`.
 */
import { config } from './config';
import { postJson, requestJson, requestText } from './http';
import { parsePrometheus, type Sample } from './prometheus';

export interface OipModelMetadata {
  readonly name: string;
  readonly versions?: readonly string[];
  readonly platform?: string;
  readonly inputs?: readonly { name: string; datatype: string; shape: readonly number[] }[];
  readonly outputs?: readonly { name: string; datatype: string; shape: readonly number[] }[];
}

const seldonBase = (deployment: string) =>
  `${config().gateway}/seldon/${encodeURIComponent(config().servingNamespace)}/${encodeURIComponent(deployment)}`;
const oipBase = (model: string) => `${config().gateway}/v2/models/${encodeURIComponent(model)}`;

export const serving = {
  /** OIP model metadata; rejects with the OIP error (404) when no deployment serves the model. */
  metadata: (model: string) => requestJson<OipModelMetadata>(oipBase(model), { method: 'GET' }, 'oip'),
  seldonPredict: (deployment: string, body: unknown) =>
    postJson<unknown>(`${seldonBase(deployment)}/api/v1.0/predictions`, body, 'seldon'),
  oipInfer: (model: string, body: unknown) => postJson<unknown>(`${oipBase(model)}/infer`, body, 'oip'),
  /** The deployment's Prometheus metrics, parsed. */
  async metrics(deployment: string): Promise<Sample[]> {
    return parsePrometheus(await requestText(`${seldonBase(deployment)}/metrics`, { method: 'GET' }, 'seldon'));
  },
  seldonUrl: (deployment: string) => `${seldonBase(deployment)}/api/v1.0/predictions`,
  oipUrl: (model: string) => `${oipBase(model)}/infer`,
};
