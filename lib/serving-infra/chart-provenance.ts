/**
 * Provenance of a vendored Helm chart: the chart is installed from a directory in this repository
 * (a CDK asset), never fetched from a chart repository at deploy time, and synthesis refuses a
 * directory whose content is not the one pinned.
 *
 * Two digests pin it, both recomputable by anyone:
 * - `gitTree`: the git tree id of the chart directory in the upstream repository at the release tag
 *   (`git rev-parse v1.17.1:helm-charts/seldon-core-operator` in a clone of SeldonIO/seldon-core), so
 *   the vendored files are shown to be the tagged release's, byte for byte;
 * - `sha256`: SHA-256 of the `sha256sum` listing of every file, sorted by path
 *   (`cd <dir> && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum`), a collision-resistant
 *   pin beside git's SHA-1.
 *
 * @example
 * verifyChart('vendor/seldon-core-operator', { gitTree: 'b6fa…', sha256: '1e04…', version: '1.17.1' });
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** What a vendored chart directory must hash to, and the version its Chart.yaml must declare. */
export interface ChartPin {
  readonly gitTree: string;
  readonly sha256: string;
  readonly version: string;
}

/** The git object id of a blob with this content. */
const gitBlobId = (content: Buffer): Buffer =>
  createHash('sha1').update(`blob ${content.length}\0`).update(content).digest();

/**
 * The git tree id of a directory as git would store it (regular files 100644, subdirectories as
 * trees; git orders a directory's entries by name with a trailing `/` on subdirectories).
 */
export function gitTreeId(dir: string): string {
  return treeId(dir).toString('hex');
}

function treeId(dir: string): Buffer {
  const entries = readdirSync(dir, { withFileTypes: true }).map((e) => {
    const path = join(dir, e.name);
    return e.isDirectory()
      ? { key: `${e.name}/`, mode: '40000', name: e.name, id: treeId(path) }
      : { key: e.name, mode: '100644', name: e.name, id: gitBlobId(readFileSync(path)) };
  });
  entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const body = Buffer.concat(entries.flatMap((e) => [Buffer.from(`${e.mode} ${e.name}\0`), e.id]));
  return createHash('sha1').update(`tree ${body.length}\0`).update(body).digest();
}

/** SHA-256 of `find . -type f | LC_ALL=C sort | xargs sha256sum` run in `dir`. */
export function listingSha256(dir: string): string {
  const files: string[] = [];
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const path = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(path);
      else files.push(`./${path}`);
    }
  };
  walk('');
  files.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const listing = files
    .map((f) => `${createHash('sha256').update(readFileSync(join(dir, f))).digest('hex')}  ${f}\n`)
    .join('');
  return createHash('sha256').update(listing).digest('hex');
}

/** The `version:` a Chart.yaml declares. */
export const chartVersion = (dir: string): string | undefined =>
  /^version:\s*['"]?([^'"\s]+)/m.exec(readFileSync(join(dir, 'Chart.yaml'), 'utf8'))?.[1];

/** Throws, naming what differs, unless `dir` holds exactly the pinned chart. */
export function verifyChart(dir: string, pin: ChartPin): void {
  const version = chartVersion(dir);
  if (version !== pin.version) {
    throw new Error(`The chart in ${dir} must be version ${pin.version}, but Chart.yaml declares ${version}`);
  }
  const tree = gitTreeId(dir);
  if (tree !== pin.gitTree) {
    throw new Error(`The chart in ${dir} must be the git tree ${pin.gitTree} (the upstream release's), but ${tree} was found: a file was added, removed or changed`);
  }
  const sha256 = listingSha256(dir);
  if (sha256 !== pin.sha256) {
    throw new Error(`The chart in ${dir} must hash to sha256 ${pin.sha256}, but ${sha256} was found`);
  }
}
