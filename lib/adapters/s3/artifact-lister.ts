/**
 * `artifacts/list` over S3: what MLflow's S3 artifact repository answers for a run's artifact
 * directory, read with one delimited listing per page. The registry writes no artifacts; it only
 * lists what clients uploaded under the registry's artifact root.
 *
 * @example
 * const artifacts = s3ArtifactLister(new S3Client({}), 's3://artifacts-bucket/mlflow');
 * await artifacts.list('s3://artifacts-bucket/mlflow/1/<run>/artifacts', 'model');
 * // [{ path: 'model/MLmodel', is_dir: false, file_size: 312 }, { path: 'model/data', is_dir: true }]
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { type ArtifactLister, assertSafeArtifactPath, type FileInfoJson } from '../../registry/artifacts';
import { invalidParameter } from '../../registry/errors';

/** Lists artifacts under `root` (`s3://bucket/prefix`) only: the one place the function may read. */
export function s3ArtifactLister(client: S3Client, root: string): ArtifactLister {
  const base = root.replace(/\/+$/, '');
  return {
    async list(rootUri, path) {
      const runRoot = rootUri.replace(/\/+$/, '');
      if (runRoot !== base && !runRoot.startsWith(`${base}/`)) {
        throw invalidParameter(
          `artifacts/list reads the registry's artifact store ${base} only, but the run's artifacts are at ${rootUri}`,
        );
      }
      const relative = (path ?? '').replace(/^\/+|\/+$/g, '');
      if (relative !== '') assertSafeArtifactPath(relative);
      const [, bucket, keyRoot = ''] = /^s3:\/\/([^/]+)\/?(.*)$/.exec(runRoot) ?? [];
      const prefix = [keyRoot, relative].filter((p) => p !== '').join('/') + '/';
      const rel = (key: string) => [relative, key.slice(prefix.length).replace(/\/$/, '')].filter((p) => p !== '').join('/');
      const out: FileInfoJson[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }),
        );
        for (const p of page.CommonPrefixes ?? []) out.push({ path: rel(p.Prefix!), is_dir: true });
        for (const o of page.Contents ?? []) {
          if (o.Key === prefix) continue; // a folder placeholder, not an artifact
          out.push({ path: rel(o.Key!), is_dir: false, file_size: o.Size ?? 0 });
        }
        token = page.NextContinuationToken;
      } while (token);
      return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    },
  };
}
