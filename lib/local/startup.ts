/**
 * What the local platform runs when it starts (`mlops up`): the example data seeded into the raw
 * zone, then — as the stage grows them — the training pipeline, registration, promotion and
 * serving of the example model. Each step is idempotent, so a second `mlops up` reuses what the
 * first produced.
 */
import { readFileSync } from 'node:fs';
import { WINE_CSV_PATH, WINE_RAW_PREFIX } from '../datasets/wine';
import type { LocalPlatform } from './platform';
import { S3Error } from './s3';

export interface StartupStep {
  readonly name: string;
  /** What happened, for the start-up log ("seeded", "already present", …). */
  readonly outcome: string;
  readonly ms: number;
}

export interface StartupOptions {
  /** Retrain even if the registry already holds a version of the example model. */
  readonly retrain?: boolean;
  readonly log?: (line: string) => void;
}

/** The example data set's key in the raw bucket. */
export const WINE_RAW_KEY = `${WINE_RAW_PREFIX}winequality-red.csv`;

export async function runStartup(
  platform: LocalPlatform,
  options: StartupOptions = {},
): Promise<StartupStep[]> {
  const steps: StartupStep[] = [];
  const step = async (name: string, work: () => Promise<string>) => {
    const t = performance.now();
    const outcome = await work();
    const s = { name, outcome, ms: performance.now() - t };
    options.log?.(`  ${name}: ${outcome} (${(s.ms / 1000).toFixed(2)} s)`);
    steps.push(s);
  };
  await step('seed example data', () => seedExampleData(platform));
  return steps;
}

/** The lake's bucket whose construct id is `id` (Raw, Curated, Artifacts, AthenaResults). */
export function lakeBucket(platform: LocalPlatform, id: string): string {
  const r = platform.stage
    .resourcesOfType('AWS::S3::Bucket')
    .find((b) => new RegExp(`/Lake/${id}/Resource$`).test(b.constructPath ?? ''));
  if (!r) throw new Error(`the local stage has no lake bucket ${id}`);
  return platform.stage.physicalName(r);
}

/** Puts the wine CSV into the raw zone unless it is already there (a create-only write). */
export async function seedExampleData(platform: LocalPlatform): Promise<string> {
  const bucket = lakeBucket(platform, 'Raw');
  try {
    const info = await platform.store.put(bucket, WINE_RAW_KEY, readFileSync(WINE_CSV_PATH), {
      ifNoneMatch: '*',
      contentType: 'text/csv',
    });
    return `s3://${bucket}/${WINE_RAW_KEY} (version ${info.versionId})`;
  } catch (err) {
    if (err instanceof S3Error && err.code === 'PreconditionFailed')
      return `already present in s3://${bucket}/${WINE_RAW_KEY}`;
    throw err;
  }
}
