/** Feast's registry JSON types as the console reads them: a leaf with no imports (see mlflow-types.ts). */

export type FeastValueType = 'INT32' | 'INT64' | 'FLOAT' | 'DOUBLE' | 'STRING' | 'BOOL' | 'UNIX_TIMESTAMP';

export interface FeastColumn {
  readonly name: string;
  readonly valueType: FeastValueType;
  readonly description?: string;
}

export interface FeastEntity {
  readonly spec: { readonly name: string; readonly valueType: FeastValueType; readonly joinKey: string; readonly description?: string };
}

export interface FeastFeatureView {
  readonly spec: {
    readonly name: string;
    readonly entities?: readonly string[];
    readonly features?: readonly FeastColumn[];
    readonly entityColumns?: readonly FeastColumn[];
    /** protobuf Duration JSON, e.g. `"86400s"`. */
    readonly ttl?: string;
    readonly online?: boolean;
    readonly description?: string;
    readonly batchSource?: { readonly name?: string; readonly timestampField?: string };
  };
  readonly meta?: {
    readonly materializationIntervals?: readonly { readonly startTime: string; readonly endTime: string }[];
  };
}

export interface FeastFeatureService {
  readonly spec: {
    readonly name: string;
    readonly description?: string;
    readonly features?: readonly { readonly featureViewName: string; readonly featureColumns?: readonly FeastColumn[] }[];
  };
}
