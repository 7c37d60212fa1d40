/** The vendored Seldon Core 1.17.1 SeldonDeployment CRD's v1 schema, as a validator for manifests. */
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';

const CRD = new URL('../fixtures/crd/seldon-core-1.17.1-seldondeployments-crd.yaml', import.meta.url);

let validate: ValidateFunction | undefined;

/** What the CRD's v1 schema says is wrong with `manifest` (empty when it validates). */
export function crdErrors(manifest: unknown): string[] {
  if (!validate) {
    // Compiled once per process: the CRD schema is ~800 KB of YAML.
    const crd = parse(readFileSync(CRD, 'utf8')) as {
      spec: { versions: { name: string; schema: { openAPIV3Schema: object } }[] };
    };
    const v1 = crd.spec.versions.find((v) => v.name === 'v1')!;
    // Kubernetes extensions (x-kubernetes-*) and formats like int32 are not JSON Schema keywords.
    validate = new Ajv({ strict: false, allErrors: true, validateFormats: false }).compile(v1.schema.openAPIV3Schema);
  }
  return validate(manifest) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}
