/**
 * Feast's registry REST listings (`/api/v1/...`, as `feast serve_registry --rest-api` answers them;
 * the kit's feature server serves them read-only over its repo) on the gateway, for the Features
 * page. The lookup itself is the shell's `feast.getOnlineFeatures`.
 *
 * @example
 * const [project] = await feastRegistry.projects();
 * const views = await feastRegistry.featureViews(project);
 */
import { config } from './config';
import type { FeastEntity, FeastFeatureService, FeastFeatureView } from './feast-types';
import { requestJson } from './http';

export type { FeastColumn, FeastEntity, FeastFeatureService, FeastFeatureView, FeastValueType } from './feast-types';

const list = async <T>(what: string, key: string, project: string): Promise<T[]> =>
  (
    await requestJson<Record<string, T[] | undefined>>(
      `${config().gateway}/api/v1/${what}?project=${encodeURIComponent(project)}`,
      { method: 'GET' },
      'feast',
    )
  )[key] ?? [];

export const feastRegistry = {
  async projects(): Promise<string[]> {
    const res = await requestJson<{ projects?: { spec: { name: string } }[] }>(
      `${config().gateway}/api/v1/projects`,
      { method: 'GET' },
      'feast',
    );
    return (res.projects ?? []).map((p) => p.spec.name);
  },
  entities: (project: string) => list<FeastEntity>('entities', 'entities', project),
  async featureViews(project: string): Promise<FeastFeatureView[]> {
    // Feast's ListAllFeatureViews wraps each view by kind; only batch feature views exist here.
    const all = await list<{ featureView?: FeastFeatureView }>('feature_views', 'featureViews', project);
    return all.flatMap((v) => (v.featureView ? [v.featureView] : []));
  },
  featureServices: (project: string) => list<FeastFeatureService>('feature_services', 'featureServices', project),
};
