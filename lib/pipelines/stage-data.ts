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
 * @example
 * await stageTrainingData({ train: { result: 's3://results/results/q1.csv', object: 's3://artifacts/runs/…/train.csv' }, … }, objects);
 */
import { parseS3Uri } from './catalog';
import type { ObjectStore } from './objects';

export interface StageRequest {
  readonly train: { readonly result: string; readonly object: string };
  readonly holdout: { readonly result: string; readonly object: string };
}

export async function stageTrainingData(
  request: StageRequest,
  objects: ObjectStore,
): Promise<{ train: string; holdout: string }> {
  for (const split of [request.train, request.holdout]) {
    await objects.copy(
      parseS3Uri(split.result, 'the query result'),
      parseS3Uri(split.object, 'the staged object'),
    );
  }
  return { train: request.train.object, holdout: request.holdout.object };
}
