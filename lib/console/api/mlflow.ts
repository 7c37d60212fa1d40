/**
 * MLflow REST on the gateway (`/api/2.0/mlflow/...`), the calls the console pages share. Pages that
 * need more call {@link mlflowGet} / {@link mlflowPost} with MLflow's own paths.
 */
import { config } from './config';
import { postJson, requestJson } from './http';

export interface ModelVersion {
  readonly name: string;
  readonly version: string;
  readonly current_stage?: string;
  readonly status?: string;
  readonly run_id?: string;
  readonly source?: string;
  readonly creation_timestamp?: number;
  readonly last_updated_timestamp?: number;
  readonly aliases?: readonly string[];
  readonly tags?: readonly { key: string; value: string }[];
}

export interface RegisteredModel {
  readonly name: string;
  readonly creation_timestamp?: number;
  readonly last_updated_timestamp?: number;
  readonly latest_versions?: readonly ModelVersion[];
  readonly aliases?: readonly { alias: string; version: string }[];
  readonly tags?: readonly { key: string; value: string }[];
}

const base = () => `${config().gateway}/api/2.0/mlflow`;

/** `GET /api/2.0/mlflow/<path>?<query>`. */
export function mlflowGet<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
  const qs = q.toString();
  return requestJson<T>(`${base()}/${path}${qs ? `?${qs}` : ''}`, { method: 'GET' }, 'mlflow');
}

/** `POST /api/2.0/mlflow/<path>` with a JSON body. */
export function mlflowPost<T>(path: string, body: unknown): Promise<T> {
  return postJson<T>(`${base()}/${path}`, body, 'mlflow');
}

export const mlflow = {
  /** Every registered model (follows page tokens, bounded). */
  async registeredModels(): Promise<RegisteredModel[]> {
    const models: RegisteredModel[] = [];
    let page_token: string | undefined;
    for (let i = 0; i < 20; i++) {
      const out = await mlflowGet<{ registered_models?: RegisteredModel[]; next_page_token?: string }>(
        'registered-models/search',
        { max_results: 100, page_token },
      );
      models.push(...(out.registered_models ?? []));
      page_token = out.next_page_token;
      if (!page_token) break;
    }
    return models;
  },
  async versions(name: string): Promise<ModelVersion[]> {
    const out = await mlflowGet<{ model_versions?: ModelVersion[] }>('model-versions/search', {
      filter: `name='${name.replace(/'/g, "\\'")}'`,
      max_results: 200,
    });
    return out.model_versions ?? [];
  },
};
