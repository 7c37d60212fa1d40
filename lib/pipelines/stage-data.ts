/**
 * "Stage training data": copies the CSV results of the train and holdout split queries from the
 * Athena results bucket into the run's training and holdout channels.
 *
 * Why the CSV comes from query results: the trainer reads CSV with a header row, and Athena's
 * `UNLOAD … format = 'TEXTFILE'` writes no header (nor does the local engine's translation), while a
 * query's own result file is a CSV with one (every value quoted, which the trainer reads). A result
 * file cannot be the channel itself: S3Prefix channels take every key under the prefix, and Athena
 * writes a `<id>.csv.metadata` file next to `<id>.csv`. So each file is copied, server side, to a
 * prefix of its own.
 *
 * Before copying, it counts the rows of each split (streaming, nothing held in memory) and fails
 * with a `DataValidationError` when a split is empty or the two together have fewer than `min_rows`
 * — which with a feature service means too few labelled events had every feature within its TTL.
 *
 * @example
 * await stageTrainingData({ train: { result: 's3://results/results/q1.csv', object: 's3://artifacts/runs/…/train.csv' }, … }, objects);
 */
import { parseS3Uri } from './catalog';
import { DataValidationError } from './errors';
import type { ObjectStore } from './objects';

export interface StageRequest {
  readonly train: { readonly result: string; readonly object: string };
  readonly holdout: { readonly result: string; readonly object: string };
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
  readonly train: string;
  readonly holdout: string;
  readonly train_rows: number;
  readonly holdout_rows: number;
}

export async function stageTrainingData(request: StageRequest, objects: ObjectStore): Promise<Staged> {
  // A result CSV has a header line, then one line per row.
  const rowsOf = async (uri: string) => {
    const { bucket, key } = parseS3Uri(uri, 'the query result');
    return Math.max(0, (await objects.countLines(bucket, key)) - 1);
  };
  const trainRows = await rowsOf(request.train.result);
  const holdoutRows = await rowsOf(request.holdout.result);
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
  for (const split of [request.train, request.holdout]) {
    await objects.copyOnce(
      parseS3Uri(split.result, 'the query result'),
      parseS3Uri(split.object, 'the staged object'),
    );
  }
  return {
    train: request.train.object,
    holdout: request.holdout.object,
    train_rows: trainRows,
    holdout_rows: holdoutRows,
  };
}
