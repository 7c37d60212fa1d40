/**
 * The container's entry point (bundled into one file by `bundle.ts`), its composition root like a
 * Lambda handler's: configuration from the environment, the S3 adapter, serve, stop gracefully on SIGTERM/SIGINT and exit 0. A configuration or model
 * error exits 1 with one line on stderr, which is what the pod's logs show.
 */
import { s3Client } from '../adapters/clients';
import { s3Objects } from '../adapters/s3/objects';
import { configFromEnv, serve, untilStopped } from './main';

try {
  const config = configFromEnv(process.env);
  const server = await serve(config, { objects: s3Objects(s3Client(process.env)) });
  process.stdout.write(
    `model server: ${config.modelName}${config.modelVersion === undefined ? '' : `@${config.modelVersion}`} from ${config.modelUri} on ${server.url}\n`,
  );
  await untilStopped(server);
  process.exit(0);
} catch (err) {
  process.stderr.write(`model server: ${(err as Error).message}\n`);
  process.exit(1);
}
