/**
 * cdk-nag reports cached per stage and pack, so a synthesis whose stage did not change does not walk
 * it again, nor load the dozens of aws-cdk-lib modules the rules test resources against (most of a
 * pack's cost on the kit's stages).
 *
 * A pack's report over a stage is a function of what its rules can read through the construct tree:
 * every `CfnResource` of the stage (its type, logical id, properties and options, the class it is
 * an instance of, its path) and the acknowledgements on it and its ancestors. The key is the sha256
 * of exactly that, taken where it is cheap and complete:
 *
 * - every template of the stage as synthesized (the text the resources rendered to: types, logical
 *   ids, properties, options, `aws:cdk:path`, the other stacks a reference reaches);
 * - per `CfnResource`: its path, logical id and class (a rule tests `instanceof CfnBucket`, which a
 *   plain `CfnResource` of the same type is not), its raw overrides, and, when it has any, its own
 *   properties resolved (an override hides them from the template, not from a rule);
 * - every acknowledgement (CDK's `Validations.acknowledge` metadata and the kit's prefix
 *   acknowledgements) on the stage, its constructs and its ancestors;
 * - the pack (name, options, the kit's wrapper) and the versions of cdk-nag and aws-cdk-lib.
 *
 * A stage holding resources whose template is not among the stage's own (a nested stack or stage)
 * is not cached: its templates are not in the key. Change anything above and the pack runs again;
 * an unacknowledged finding in a changed stage is found again and fails synthesis as before, and
 * a cached report with findings fails it just the same (the report is what CDK acts on).
 *
 * @example
 * useNagCache();  // before app.synth(); StageNagPlugin consults it
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { CfnResource, type IPolicyValidationContext, type PolicyValidationPluginReport, Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { readJson, writeFileAtomic } from './bundle-cache';
import { kitCacheDir } from './bundling';

/** Raised when the key's makeup or the entry layout changes. */
const CACHE_FORMAT = 1;

/** What the cache did, for tests and benchmarks: `<stage path> <pack>` per report. */
export interface NagCacheStats {
  checked: string[];
  reused: string[];
  /** Stages run uncached because resources there render to templates outside the stage's own. */
  uncacheable: string[];
}

const sha256 = (data: string): string => createHash('sha256').update(data).digest('hex');

function versions(): string {
  const require = createRequire(import.meta.url);
  const version = (pkg: string) => (JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as { version: string }).version;
  return `cdk-nag ${version('cdk-nag')} aws-cdk-lib ${version('aws-cdk-lib')}`;
}

export class NagCache {
  readonly stats: NagCacheStats = { checked: [], reused: [], uncacheable: [] };
  private readonly versions = versions();
  /** Stage digests of the synthesis under way, shared by the packs of one stage. */
  private readonly digests = new WeakMap<IConstruct, { templates: string; digest: string | undefined }>();

  constructor(
    readonly cacheDir: string,
    /** Names the acknowledgement metadata besides CDK's own that the packs read. */
    private readonly extraAcknowledgementTypes: readonly string[] = [],
  ) {}

  /**
   * The report of the pack identified by `pack` over `scope`: from the cache when the stage and
   * the pack are what they were, else from `run` (and stored).
   */
  report(scope: IConstruct, pack: string, context: IPolicyValidationContext, run: () => PolicyValidationPluginReport): PolicyValidationPluginReport {
    const label = `${scope.node.path} ${pack.split('\n')[0]}`;
    const digest = this.stageDigest(scope, context);
    if (digest === undefined) {
      this.stats.uncacheable.push(label);
      return run();
    }
    const key = sha256(`${digest}\n${pack}`);
    const path = join(this.cacheDir, `${key}.json`);
    const cached = readJson<{ key: string; report: PolicyValidationPluginReport }>(path);
    if (cached?.key === key) {
      this.stats.reused.push(label);
      return cached.report;
    }
    const report = run();
    this.stats.checked.push(label);
    writeFileAtomic(path, JSON.stringify({ key, report }));
    return report;
  }

  /** What every rule of every pack can read in `scope`, hashed; undefined when that is not all in the context's templates. */
  private stageDigest(scope: IConstruct, context: IPolicyValidationContext): string | undefined {
    const templates = context.stackTemplates.map((s) => s.templatePath).sort().join('\n');
    const known = this.digests.get(scope);
    if (known?.templates === templates) return known.digest;

    const h = createHash('sha256').update(`format ${CACHE_FORMAT}\n${this.versions}\n`);
    const files = new Set<string>();
    for (const s of [...context.stackTemplates].sort((a, b) => a.templatePath.localeCompare(b.templatePath))) {
      const name = basename(s.templatePath);
      files.add(name);
      h.update(`template ${s.stackConstructPath} ${name}\n`).update(readFileSync(s.templatePath)).update('\n');
    }
    const ackTypes = new Set([Validations.ACKNOWLEDGED_RULES_METADATA_KEY, ...this.extraAcknowledgementTypes]);
    const acknowledgements = (c: IConstruct) => {
      for (const m of c.node.metadata) if (ackTypes.has(m.type)) h.update(`ack ${c.node.path} ${m.type} ${JSON.stringify(m.data)}\n`);
    };
    for (let c = scope.node.scope; c; c = c.node.scope) acknowledgements(c);
    let digest: string | undefined;
    try {
      for (const c of scope.node.findAll()) {
        acknowledgements(c);
        if (!CfnResource.isCfnResource(c)) continue;
        const stack = Stack.of(c);
        if (!files.has(basename(stack.templateFile))) throw new Uncacheable();
        const rtti = (c.constructor as unknown as Record<symbol, { fqn?: string } | undefined>)[Symbol.for('jsii.rtti')];
        const overrides = (c as unknown as { rawOverrides?: object }).rawOverrides;
        h.update(`resource ${c.node.path} ${String(stack.resolve(c.logicalId))} ${c.constructor.name} ${rtti?.fqn ?? '-'}\n`);
        if (overrides === undefined || Object.keys(overrides).length > 0) {
          const own = (c as unknown as { cfnProperties: object }).cfnProperties;
          // Resolved, as the template is: the raw overrides hold token strings numbered per process.
          h.update(`overrides ${JSON.stringify(stack.resolve(overrides ?? null))} ${JSON.stringify(stack.resolve(own))}\n`);
        }
      }
      digest = h.digest('hex');
    } catch (err) {
      if (!(err instanceof Uncacheable)) throw err;
    }
    this.digests.set(scope, { templates, digest });
    return digest;
  }
}

class Uncacheable extends Error {}


let active: NagCache | undefined;

/** The cache `StageNagPlugin` consults in this process, if any. */
export const activeNagCache = (): NagCache | undefined => active;

/**
 * Makes `StageNagPlugin` cache its reports under `cacheDir` in this process (idempotent for the same
 * directory) and returns the cache; `extraAcknowledgementTypes` names metadata the packs read besides
 * CDK's acknowledgements.
 */
export function useNagCache(extraAcknowledgementTypes: readonly string[], cacheDir: string = join(kitCacheDir(), 'nag')): NagCache {
  if (active?.cacheDir !== cacheDir) active = new NagCache(cacheDir, extraAcknowledgementTypes);
  return active;
}

/** Stops caching nag reports in this process (tests). */
export function stopNagCache(): void {
  active = undefined;
}
