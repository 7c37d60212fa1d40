/**
 * Compares two environments' synthesized templates resource by resource (stacks by id, resources
 * by logical id, which follows the construct path and so matches across environments) and lists
 * every difference: a stack or resource in one only, a resource whose type changed, and each
 * property (or DeletionPolicy/UpdateReplacePolicy/Condition) whose value differs, once each
 * environment's own name is written as `<env>` in both; and a stack output in one only.
 */
import type { Template } from 'aws-cdk-lib/assertions';

export type Difference =
  | { readonly kind: 'stack-only-in'; readonly env: string; readonly stack: string }
  | { readonly kind: 'resource-only-in'; readonly env: string; readonly stack: string; readonly type: string; readonly logicalId: string; readonly path: string }
  | { readonly kind: 'output-only-in'; readonly env: string; readonly stack: string; readonly output: string }
  | { readonly kind: 'property'; readonly stack: string; readonly type: string; readonly logicalId: string; readonly path: string };

type Json = unknown;

/**
 * The environment's name as the kit spells it in names and descriptions (`mlops-staging`,
 * `mlops_staging`, the squashed `mlopsstaging` of logical ids, `mlops-kit staging: …`, a value that
 * is just `staging`) becomes `<env>`, and the hashes CDK derives from such names become `<hash>`, so
 * names alone never differ; the word elsewhere (batch inference's `staging/` prefix) is left alone.
 */
function normalize(value: Json, envName: string): Json {
  const rename = (s: string) =>
    s === envName
      ? '<env>'
      : s
          .replace(new RegExp(`mlops(-kit[ -]|[-_]?)${envName}`, 'gi'), (_, sep: string) => `mlops${sep}<env>`)
          // CDK suffixes ids it derives from a path with a hash of that path, which holds the stage name.
          .replace(/(mlops<env>[A-Za-z0-9]*?)(?:[0-9A-F]{8})+\b/g, '$1<hash>')
          // ... and labels what the cluster applies with a hash of the cluster's address.
          .replace(/aws\.cdk\.eks\/prune-c8[0-9a-f]{40}/g, 'aws.cdk.eks/prune-<hash>');
  if (typeof value === 'string') return rename(value);
  if (Array.isArray(value)) return value.map((v) => normalize(v, envName));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [rename(k), normalize(v, envName)]));
  }
  return value;
}

/**
 * Resources keyed by construct path within the stage (`Registry/Api/Deployment/Resource`): logical
 * ids that embed a hash of the resource's content would otherwise make one resource look like two.
 */
function byPath(resources: Record<string, Record<string, Json>>): Map<string, { id: string; resource: Record<string, Json> }> {
  const out = new Map<string, { id: string; resource: Record<string, Json> }>();
  for (const [id, resource] of Object.entries(resources)) {
    const path = (resource['Metadata'] as Record<string, string> | undefined)?.['aws:cdk:path'];
    out.set(path ? path.split('/').slice(1).join('/') : id, { id, resource });
  }
  return out;
}

/** The leaf paths under which `a` and `b` differ (`Rules[2].Transitions`, `RetentionInDays`). */
function diffPaths(a: Json, b: Json, path = ''): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  const isObj = (v: Json) => v !== null && typeof v === 'object';
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    return a.flatMap((v, i) => diffPaths(v, b[i], `${path}[${i}]`));
  }
  if (isObj(a) && isObj(b) && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    return [...keys].flatMap((k) =>
      diffPaths((a as Record<string, Json>)[k], (b as Record<string, Json>)[k], path ? `${path}.${k}` : k),
    );
  }
  return [path];
}

const RESOURCE_ATTRIBUTES = ['DeletionPolicy', 'UpdateReplacePolicy', 'Condition'] as const;

export interface EnvironmentTemplates {
  readonly name: string;
  /** Each stack's template, by stack id. */
  readonly templates: Record<string, Template>;
}

export function templateDifferences(left: EnvironmentTemplates, right: EnvironmentTemplates): Difference[] {
  const out: Difference[] = [];
  const stacks = new Set([...Object.keys(left.templates), ...Object.keys(right.templates)]);
  for (const stack of [...stacks].sort()) {
    const [l, r] = [left.templates[stack], right.templates[stack]];
    if (!l || !r) {
      out.push({ kind: 'stack-only-in', env: l ? left.name : right.name, stack });
      continue;
    }
    const [lo, ro] = [l, r].map((t, i) => Object.keys(normalize(t.toJSON()['Outputs'] ?? {}, [left, right][i]!.name) as object));
    for (const output of new Set([...lo!, ...ro!])) {
      if (!lo!.includes(output) || !ro!.includes(output)) out.push({ kind: 'output-only-in', env: lo!.includes(output) ? left.name : right.name, stack, output });
    }
    const lr = byPath(normalize(l.toJSON()['Resources'] ?? {}, left.name) as Record<string, Record<string, Json>>);
    const rr = byPath(normalize(r.toJSON()['Resources'] ?? {}, right.name) as Record<string, Record<string, Json>>);
    for (const key of [...new Set([...lr.keys(), ...rr.keys()])].sort()) {
      const [la, rb] = [lr.get(key), rr.get(key)];
      if (!la || !rb) {
        const [env, { id, resource }] = la ? [left.name, la] : [right.name, rb!];
        out.push({ kind: 'resource-only-in', env, stack, type: String(resource['Type']), logicalId: id, path: key });
        continue;
      }
      const [a, b, id] = [la.resource, rb.resource, la.id];
      const type = String(a['Type']);
      if (a['Type'] !== b['Type']) {
        out.push({ kind: 'property', stack, type, logicalId: id, path: 'Type' });
        continue;
      }
      for (const attr of RESOURCE_ATTRIBUTES) {
        if (JSON.stringify(a[attr]) !== JSON.stringify(b[attr])) out.push({ kind: 'property', stack, type, logicalId: id, path: attr });
      }
      for (const path of diffPaths(a['Properties'], b['Properties'])) {
        out.push({ kind: 'property', stack, type, logicalId: id, path: `Properties${path ? `.${path}` : ''}` });
      }
    }
  }
  return out;
}
