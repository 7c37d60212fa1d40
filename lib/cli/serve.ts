/**
 * `mlops serve`: the model server as a local process, the same code the EKS image runs.
 *
 * @example
 * mlops serve --model-dir .mlops/models/wine-quality --model-name wine-quality --port 9000
 * mlops serve --model-dir s3://artifacts/training/job-1/output/model.tar.gz --request-log .mlops/lake/predictions
 * mlops serve --model-dir s3://artifacts/models/…/model.tar.gz --sha256 <mlops.artifact_sha256> --version-id <mlops.artifact_version_id>
 */
import type { Command } from 'commander';
import type { serve as Serve } from '../serving/main';
import { CliError, type CommandModule, EXIT } from './program';

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new CliError(
      `--port must be an integer from 0 to 65535, but ${JSON.stringify(value)} was provided`,
    );
  return n;
}

function parseRate(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1))
    throw new CliError(
      `--log-sample-rate must be between 0 and 1, but ${JSON.stringify(value)} was provided`,
    );
  return n;
}

interface ServeOptions {
  readonly modelDir: string;
  readonly port: number;
  readonly host: string;
  readonly modelName: string;
  readonly modelVersion?: string;
  readonly sha256?: string;
  readonly versionId?: string;
  readonly requestLog?: string;
  readonly logSampleRate: number;
}

/** Registers `mlops serve`. */
export const serveCommands: CommandModule = (program: Command) => {
  program
    .command('serve')
    .description('serve a model over Seldon Core v1 and Open Inference Protocol v2 until SIGINT/SIGTERM')
    .requiredOption(
      '--model-dir <dir|s3-uri>',
      'model directory, model.tar.gz, or s3://bucket/key (model.tar.gz, model.json or a prefix)',
    )
    .option('--port <port>', 'port to listen on (0 picks a free one)', parsePort, 9000)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--model-name <name>', 'the name clients address the model by', 'model')
    .option('--model-version <version>', 'the version served (default: unversioned)')
    .option('--sha256 <hex>', "refuse to serve unless the artifact's SHA-256 is this (the version's mlops.artifact_sha256)")
    .option('--version-id <id>', "read this S3 object version of the artifact (the version's mlops.artifact_version_id)")
    .option(
      '--request-log <dir|s3-uri>',
      'log sampled predictions as JSON Lines under dt=YYYY-MM-DD/ partitions',
    )
    .option('--log-sample-rate <rate>', 'fraction of predictions logged (0-1)', parseRate, 1)
    .action(async (opts: ServeOptions) => {
      // Loaded when the command runs (see lib/cli/local.ts).
      const [{ ClientConfigError, s3Client }, { s3Objects }, { ModelFormatError }, { ArtifactDigestError }, { serve, untilStopped }] = await Promise.all([
        import('../adapters/clients'),
        import('../adapters/s3/objects'),
        import('../model/format'),
        import('../serving/load'),
        import('../serving/main'),
      ]);
      let server: Awaited<ReturnType<typeof Serve>>;
      try {
        server = await serve({
          modelUri: opts.modelDir,
          modelName: opts.modelName,
          ...(opts.modelVersion === undefined ? {} : { modelVersion: opts.modelVersion }),
          ...(opts.sha256 === undefined && opts.versionId === undefined
            ? {}
            : {
                expected: {
                  ...(opts.sha256 === undefined ? {} : { sha256: opts.sha256 }),
                  ...(opts.versionId === undefined ? {} : { versionId: opts.versionId }),
                },
              }),
          host: opts.host,
          port: opts.port,
          ...(opts.requestLog === undefined ? {} : { requestLog: opts.requestLog }),
          sampleRate: opts.logSampleRate,
        }, { objects: s3Objects(s3Client(process.env)) });
      } catch (err) {
        if (err instanceof ModelFormatError || err instanceof ArtifactDigestError || err instanceof ClientConfigError) {
          throw new CliError(err.message, EXIT.failed);
        }
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' || code === 'EACCES') {
          throw new CliError(
            `cannot listen on ${opts.host}:${opts.port}: ${(err as Error).message}`,
            EXIT.unavailable,
          );
        }
        throw err;
      }
      process.stdout.write(
        `serving ${opts.modelName} on ${server.url} (Seldon: /api/v1.0/predictions, OIP: /v2/models/${opts.modelName}/infer)\n`,
      );
      await untilStopped(server);
    });
};
