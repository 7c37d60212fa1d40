/**
 * `mlops seed`: writes the example data's lake forms — the raw CSV, the `wine_labels` table and
 * the feature store's `wine_features` table — create-only, into the local platform's lake or,
 * with `--raw-bucket` and `--curated-bucket`, into a deployed environment's lake through the AWS
 * SDK (default credential chain). Objects already there are reported `present` and left alone.
 *
 * @example
 *   npx mlops seed                                     # the local platform (running or transient)
 *   npx mlops seed --raw-bucket mlops-staging-datalake-lakeraw… \
 *     --curated-bucket mlops-staging-datalake-lakecurated… --region eu-west-1
 */
import { type Command, Option } from 'commander';
import type { SeedOutcome } from '../datasets/wine-lake';
import { stateDirFrom } from '../local/layout';
import { assertBucketName } from '../local/s3/uri';
import { withSession } from './local';
import { CliError, type CommandModule, EXIT } from './program';

interface SeedOptions {
  readonly rawBucket?: string;
  readonly curatedBucket?: string;
  readonly region?: string;
  readonly endpointUrl?: string;
  readonly stateDir?: string;
  readonly json?: boolean;
}

/** Where to seed, resolved from the flags: the local platform, or a deployed lake's buckets. */
export type SeedTarget =
  | { readonly kind: 'local'; readonly stateDir: string }
  | {
      readonly kind: 'aws';
      readonly rawBucket: string;
      readonly curatedBucket: string;
      readonly region?: string;
      readonly endpointUrl?: string;
    };

/**
 * Validates the flags once; every problem is a usage error naming the flag and the value.
 *
 * @example
 * seedTarget({ rawBucket: 'raw-b', curatedBucket: 'cur-b' }); // { kind: 'aws', rawBucket: 'raw-b', … }
 * seedTarget({ rawBucket: 'raw-b' }); // throws CliError (exit 2)
 */
export function seedTarget(opts: SeedOptions): SeedTarget {
  const { rawBucket, curatedBucket, region, endpointUrl, stateDir } = opts;
  if (rawBucket === undefined && curatedBucket === undefined) {
    for (const [flag, value] of [
      ['--region', region],
      ['--endpoint-url', endpointUrl],
    ] as const) {
      if (value !== undefined)
        throw new CliError(
          `${flag} applies to a deployed environment only: pass --raw-bucket and --curated-bucket with it`,
        );
    }
    return { kind: 'local', stateDir: stateDirFrom(stateDir) };
  }
  if (rawBucket === undefined || curatedBucket === undefined) {
    const given = rawBucket === undefined ? '--curated-bucket' : '--raw-bucket';
    throw new CliError(
      '--raw-bucket and --curated-bucket must be given together (or neither, to seed the local ' +
        `platform), but only ${given} was provided`,
    );
  }
  if (stateDir !== undefined) {
    throw new CliError(
      '--state-dir applies to the local platform only, not with --raw-bucket/--curated-bucket',
    );
  }
  for (const [flag, value] of [
    ['--raw-bucket', rawBucket],
    ['--curated-bucket', curatedBucket],
  ] as const) {
    try {
      assertBucketName(value);
    } catch {
      throw new CliError(
        `${flag} must be an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens), ` +
          `but ${JSON.stringify(value)} was provided`,
      );
    }
  }
  if (region !== undefined && !/^[a-z]{2,}(-[a-z]+)+-\d+$/.test(region)) {
    throw new CliError(
      `--region must be an AWS region such as eu-west-1, but ${JSON.stringify(region)} was provided`,
    );
  }
  if (endpointUrl !== undefined && !/^https?:\/\/[^/\s]+\/?$/.test(endpointUrl)) {
    throw new CliError(
      '--endpoint-url must be an http(s) URL without a path, such as http://127.0.0.1:4566, ' +
        `but ${JSON.stringify(endpointUrl)} was provided`,
    );
  }
  return {
    kind: 'aws',
    rawBucket,
    curatedBucket,
    ...(region !== undefined ? { region } : {}),
    ...(endpointUrl !== undefined ? { endpointUrl } : {}),
  };
}

/** Registers `mlops seed`. */
export const seedCommands: CommandModule = (program: Command) => {
  program
    .command('seed')
    .description(
      'write the example lake (raw CSV, wine_labels, wine_features), create-only, into the local ' +
        'platform, or into a deployed environment with --raw-bucket and --curated-bucket',
    )
    .option('--raw-bucket <bucket>', 'a deployed lake: the DataLake stack output RawBucketName')
    .option('--curated-bucket <bucket>', 'a deployed lake: the DataLake stack output CuratedBucketName')
    .option('--region <region>', "the deployed lake's region (default: the SDK's, e.g. AWS_REGION)")
    .option('--endpoint-url <url>', 'an S3-compatible endpoint instead of AWS (also AWS_ENDPOINT_URL_S3)')
    .addOption(
      new Option(
        '--state-dir <dir>',
        'where the local platform keeps its state (also MLOPS_STATE_DIR)',
      ).default(undefined, '.mlops/local'),
    )
    .addOption(new Option('--json', 'print machine-readable JSON instead of text'))
    .addHelpText(
      'after',
      '\nExamples:\n  npx mlops seed\n' +
        '  npx mlops seed --raw-bucket <RawBucketName> --curated-bucket <CuratedBucketName> ' +
        '--region eu-west-1\n',
    )
    .action(async (opts: SeedOptions) => {
      const target = seedTarget(opts);
      const outcomes =
        target.kind === 'local' ? await seedLocal(target.stateDir) : await seedDeployed(target);
      process.stdout.write(
        opts.json
          ? `${JSON.stringify(outcomes, null, 2)}\n`
          : `${outcomes.map(formatOutcome).join('\n')}\n`,
      );
      process.exitCode = EXIT.ok;
    });
};

// Each target's modules are loaded when the command runs (see lib/cli/local.ts).
async function seedLocal(stateDir: string): Promise<SeedOutcome[]> {
  const [{ readAssembly }, { seedLocalLake }, { assemblyDirOf }] = await Promise.all([
    import('../local/assembly'),
    import('../local/startup'),
    import('../local/synth'),
  ]);
  return withSession(stateDir, (s) =>
    seedLocalLake(s.info, readAssembly(assemblyDirOf(stateDir), { stage: s.info.stage }), new Date()),
  );
}

async function seedDeployed(target: Extract<SeedTarget, { kind: 'aws' }>): Promise<SeedOutcome[]> {
  const [{ S3Client }, { s3CreateObject, seedWineLake }] = await Promise.all([import('@aws-sdk/client-s3'), import('../datasets/wine-lake')]);
  const s3 = new S3Client({
    ...(target.region !== undefined ? { region: target.region } : {}),
    ...(target.endpointUrl !== undefined ? { endpoint: target.endpointUrl, forcePathStyle: true } : {}),
  });
  try {
    // Resolved before any work, so a missing region is a usage error rather than a failed upload.
    const region = await s3.config.region().catch(() => '');
    if (!region) throw new CliError('no AWS region: pass --region or set AWS_REGION', EXIT.usage);
    return await seedWineLake(s3CreateObject(s3), {
      rawBucket: target.rawBucket,
      curatedBucket: target.curatedBucket,
      now: new Date(),
    });
  } catch (err) {
    if (err instanceof CliError) throw err;
    const e = err as Error;
    throw new CliError(`seeding failed: ${e.name}: ${e.message}`, EXIT.failed);
  } finally {
    s3.destroy();
  }
}

function formatOutcome(o: SeedOutcome): string {
  return o.outcome === 'created'
    ? `created          ${o.uri}${o.versionId ? ` (version ${o.versionId})` : ''}`
    : `already present  ${o.uri}`;
}
