/**
 * "Stage training data": copies the Parquet parts the train and holdout UNLOADs wrote (in the
 * curated zone, under the run's `splits/` folder) into the run's training and holdout channels.
 *
 * Why UNLOAD, and why many parts: Athena's UNLOAD writes each split as several Parquet files, as its
 * workers produce them, so no step and no file has to hold a whole split (a SELECT's result is one
 * CSV object written by one worker). The trainer reads Parquet and any number of files per channel,
 * and "Evaluate model" and "Write baseline" read the holdout part by part, a row group at a time.
 *
 * Why copy at all: the channels are under `data/`, where objects are written once (`If-None-Match:
 * *`, the bucket policy's rule); each part is copied with `copyOnce` (a streamed conditional PUT, or
 * above the adapter's threshold a server-side multipart copy completed conditionally), to
 * `part-00000.parquet`, `part-00001.parquet`, … in the order the writer numbered them.
 *
 * Before copying, it counts the rows of each split from the parts' Parquet footers (ranged reads:
 * no part is held) and fails with a `DataValidationError` when a split is empty or the two together
 * have fewer than `min_rows` — which with a feature service means too few labelled events had every
 * feature within its TTL. Parts without rows are not copied.
 *
 * @example
 * await stageTrainingData({ train: { unloaded: 's3://curated/splits/wine/run-1/train/', channel: 's3://artifacts/data/wine-quality/run-1/train/' }, … }, objects);
 */
import { parseS3Uri } from './catalog';
import { DataValidationError } from './errors';
import type { ObjectStore } from './objects';
import { listParts, type Part, parquetRowCount } from './parquet-parts';

export interface StageRequest {
  /** `unloaded`: the UNLOAD's prefix; `channel`: the channel prefix the parts are copied under. */
  readonly train: { readonly unloaded: string; readonly channel: string };
  readonly holdout: { readonly unloaded: string; readonly channel: string };
  /** The plan's `check`: validated rows, the `min_rows` asked for, and what the rows are. */
  readonly check?: {
    readonly min_rows: number;
    readonly rows: number;
    /** What the rows are, e.g. "labelled events of wine_labels". */
    readonly source: string;
    /** Why rows can be missing from the splits, when they can. */
    readonly why?: string;
  };
}

export interface Staged {
  /** The channel prefixes. */
  readonly train: string;
  readonly holdout: string;
  readonly train_rows: number;
  readonly holdout_rows: number;
  /** Parts copied into each channel. */
  readonly train_parts: number;
  readonly holdout_parts: number;
}

/** Parts copied at once. */
const COPY_CONCURRENCY = 4;

/** The name of the n-th part in a channel (zero-padded, so path order is the writer's order). */
export const partName = (n: number) => `part-${String(n).padStart(5, '0')}.parquet`;

async function counted(objects: ObjectStore, uri: string, what: string) {
  const parts = await listParts(objects, uri, what);
  const rows: number[] = [];
  for (const part of parts) rows.push(await parquetRowCount(objects, part));
  const kept = parts.filter((_, i) => rows[i]! > 0);
  return { parts: kept, rows: rows.reduce((a, b) => a + b, 0) };
}

async function copyParts(objects: ObjectStore, parts: readonly Part[], channel: string): Promise<void> {
  const to = parseS3Uri(channel, 'the channel');
  const prefix = to.key.endsWith('/') ? to.key : `${to.key}/`;
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < parts.length; i = next++) {
      await objects.copyOnce(parts[i]!, { bucket: to.bucket, key: `${prefix}${partName(i)}` });
    }
  };
  await Promise.all(Array.from({ length: Math.min(COPY_CONCURRENCY, parts.length) }, worker));
}

export async function stageTrainingData(request: StageRequest, objects: ObjectStore): Promise<Staged> {
  const train = await counted(objects, request.train.unloaded, 'the training split');
  const holdout = await counted(objects, request.holdout.unloaded, 'the holdout split');
  const trainRows = train.rows;
  const holdoutRows = holdout.rows;
  const check = request.check;
  const what = check?.source ?? 'the training set';
  const total = trainRows + holdoutRows;
  if (check && total < check.min_rows) {
    throw new DataValidationError(
      `${total} of the ${check.rows} ${what} are in the exported splits${check.why ? ` (${check.why})` : ''}, ` +
        `but at least ${check.min_rows} are required (min_rows)`,
    );
  }
  if (trainRows === 0 || holdoutRows === 0) {
    throw new DataValidationError(
      `the ${trainRows === 0 ? 'training' : 'holdout'} split of ${what} is empty (${trainRows} training, ${holdoutRows} holdout rows)`,
    );
  }
  await copyParts(objects, train.parts, request.train.channel);
  await copyParts(objects, holdout.parts, request.holdout.channel);
  return {
    train: request.train.channel,
    holdout: request.holdout.channel,
    train_rows: trainRows,
    holdout_rows: holdoutRows,
    train_parts: train.parts.length,
    holdout_parts: holdout.parts.length,
  };
}
