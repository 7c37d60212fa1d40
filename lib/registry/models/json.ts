/** MLflow's JSON views of models and versions, and the stage rules they are read through. */
import { STAGES, type Stage, validateKey, validateTagValue } from '../validation';
import { DELETED, type Head, stageEntryOf, type Tag, type VersionRecord } from './records';

/** MLflow's `ModelVersion` JSON; unset fields are omitted. */
export interface ModelVersionJson {
  name: string;
  version: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  current_stage: Stage;
  description?: string;
  source: string;
  run_id?: string;
  status: 'READY';
  run_link?: string;
  tags?: Tag[];
  aliases?: string[];
}

/** MLflow's `RegisteredModel` JSON; unset fields are omitted. */
export interface RegisteredModelJson {
  name: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  description?: string;
  latest_versions?: ModelVersionJson[];
  tags?: Tag[];
  aliases?: { alias: string; version: string }[];
}

export function dedupeTags(tags: readonly Tag[] | undefined): Tag[] {
  // Last one wins, as repeated set-tag calls would.
  return [...new Map((tags ?? []).map((t) => [t.key, { key: t.key, value: t.value ?? '' }])).values()];
}

export function validateTag(tag: Tag): void {
  validateKey('Tag key', tag.key ?? '');
  validateTagValue(tag.key, tag.value);
}

/** A version's stage: `None` until it is moved. */
export function stageOf(head: Head, item: VersionRecord): Stage {
  const entry = stageEntryOf(head, item);
  return entry && entry.stage !== DELETED ? entry.stage : 'None';
}

/** A stage move counts as an update of the version. */
export function lastUpdated(head: Head, item: VersionRecord): number {
  return Math.max(item.updatedAt, stageEntryOf(head, item)?.at ?? 0);
}

/** The highest version in each stage (`get-latest-versions`, `latest_versions`). */
export function latestPerStage(head: Head, versions: VersionRecord[]): Map<Stage, VersionRecord> {
  const latest = new Map<Stage, VersionRecord>();
  for (const v of versions) {
    const s = stageOf(head, v);
    if ((latest.get(s)?.version ?? 0) < v.version) latest.set(s, v);
  }
  return latest;
}

export function versionJson(head: Head, item: VersionRecord): ModelVersionJson {
  // Stored maps have no order; sort so responses are stable.
  const tags = Object.entries(item.tags ?? {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([key, value]) => ({ key, value }));
  const aliases = Object.entries(head.aliases)
    .filter(([, v]) => v === item.version)
    .map(([a]) => a)
    .sort();
  return {
    name: head.name,
    version: String(item.version),
    creation_timestamp: item.createdAt,
    last_updated_timestamp: lastUpdated(head, item),
    current_stage: stageOf(head, item),
    ...(item.description && { description: item.description }),
    source: item.source,
    ...(item.runId && { run_id: item.runId }),
    status: 'READY',
    ...(item.runLink && { run_link: item.runLink }),
    ...(tags.length && { tags }),
    ...(aliases.length && { aliases }),
  };
}

export function modelJson(
  head: Head,
  tags: Tag[],
  versions: VersionRecord[],
  withLatest: boolean,
): RegisteredModelJson {
  const latest = withLatest
    ? STAGES.flatMap((s) => {
        const v = latestPerStage(head, versions).get(s);
        return v ? [versionJson(head, v)] : [];
      })
    : [];
  const aliases = Object.entries(head.aliases)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([alias, version]) => ({ alias, version: String(version) }));
  const sortedTags = [...tags].sort((a, b) => (a.key < b.key ? -1 : 1));
  return {
    name: head.name,
    creation_timestamp: head.createdAt,
    last_updated_timestamp: head.updatedAt,
    ...(head.description && { description: head.description }),
    ...(latest.length && { latest_versions: latest }),
    ...(sortedTags.length && { tags: sortedTags }),
    ...(aliases.length && { aliases }),
  };
}
