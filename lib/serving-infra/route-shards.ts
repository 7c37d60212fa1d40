/**
 * The router's routes are split into {@link ROUTE_SHARDS} ConfigMaps by a hash of the deployment's
 * namespace and name: one ConfigMap holds at most 1 MiB, which one file of every route filled near
 * 1.3–1.6 k models; 64 shards of ~0.7 kB per model carry ~90 k. A change rewrites one shard, and
 * every SeldonDeployment carries its shard as a label, so the deployer lists only that shard's
 * deployments instead of all of them.
 *
 * @example
 * routeShardOf('seldon', 'wine-quality'); // '23'
 */
import { createHash } from 'node:crypto';

export const ROUTE_SHARDS = 64;
/** The label naming a SeldonDeployment's route shard. */
export const ROUTE_SHARD_LABEL = 'mlops-kit/route-shard';

/** Every shard id, `00` to `63`. */
export const ALL_ROUTE_SHARDS: readonly string[] = Array.from({ length: ROUTE_SHARDS }, (_, i) => String(i).padStart(2, '0'));

/** The shard (two digits) of a deployment's routes: stable across deployer runs and versions. */
export function routeShardOf(namespace: string, name: string): string {
  const n = createHash('sha256').update(`${namespace}/${name}`).digest().readUInt32BE(0) % ROUTE_SHARDS;
  return String(n).padStart(2, '0');
}
