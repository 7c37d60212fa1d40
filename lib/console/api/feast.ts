/** The Feast feature server routes on the gateway. */
import { config } from './config';
import { postJson } from './http';

export interface OnlineFeaturesResponse {
  readonly metadata: { readonly feature_names: readonly string[] };
  readonly results: readonly { values: readonly unknown[]; statuses: readonly string[]; event_timestamps?: readonly string[] }[];
}

export const feast = {
  getOnlineFeatures: (body: { feature_service?: string; features?: string[]; entities: Record<string, unknown[]> }) =>
    postJson<OnlineFeaturesResponse>(`${config().gateway}/get-online-features`, body, 'feast'),
};
