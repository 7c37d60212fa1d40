/**
 * MLflow's JSON types (tracking and registry) as the console reads them: a leaf with no imports, so
 * the pure logic and its unit tests use them without the browser-side clients.
 */

/** An MLflow tag or param. */
export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

/** A logged metric value (the latest, in a run; every one, in a history). */
export interface Metric {
  readonly key: string;
  readonly value: number;
  readonly timestamp: number;
  readonly step: number;
}

export interface Experiment {
  readonly experiment_id: string;
  readonly name: string;
  readonly artifact_location?: string;
  readonly lifecycle_stage: 'active' | 'deleted';
  readonly creation_time?: number;
  readonly last_update_time?: number;
  readonly tags?: readonly KeyValue[];
}

export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface RunInfo {
  readonly run_id: string;
  readonly run_name?: string;
  readonly experiment_id: string;
  readonly user_id?: string;
  readonly status: RunStatus;
  readonly start_time?: number;
  readonly end_time?: number;
  readonly artifact_uri?: string;
  readonly lifecycle_stage: 'active' | 'deleted';
}

export interface Run {
  readonly info: RunInfo;
  readonly data: {
    readonly metrics?: readonly Metric[];
    readonly params?: readonly KeyValue[];
    readonly tags?: readonly KeyValue[];
  };
}

/** MLflow's registry stages. */
export const STAGES = ['None', 'Staging', 'Production', 'Archived'] as const;
export type Stage = (typeof STAGES)[number];

export interface ModelVersion {
  readonly name: string;
  readonly version: string;
  readonly creation_timestamp: number;
  readonly last_updated_timestamp?: number;
  readonly current_stage: Stage;
  readonly description?: string;
  readonly source?: string;
  readonly run_id?: string;
  readonly run_link?: string;
  readonly status?: string;
  readonly tags?: readonly KeyValue[];
  readonly aliases?: readonly string[];
}

export interface RegisteredModel {
  readonly name: string;
  readonly creation_timestamp: number;
  readonly last_updated_timestamp?: number;
  readonly description?: string;
  readonly latest_versions?: readonly ModelVersion[];
  readonly tags?: readonly KeyValue[];
  readonly aliases?: readonly { readonly alias: string; readonly version: string }[];
}
