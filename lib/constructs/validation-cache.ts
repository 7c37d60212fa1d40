/**
 * CDK's CloudFormation template validator (the WASM engine aws-cdk-lib runs at synthesis) with its
 * findings cached per template, so a synthesis that changed nothing validates nothing, and one that
 * changed one stack validates that stack's template alone.
 *
 * A template's findings are a function of what the validator is given: the template's text and file
 * name, the stack's path, account and region, the rule set (the built-in rules of the resource types
 * present in the whole set of templates validated together) and the versions of aws-cdk-lib and of
 * the engine. The cache key is the sha256 of exactly those; anything else changed re-validates. The
 * value is the report CDK's own plugin returns for that template alone, with the template's path
 * replaced by a placeholder; reports of several templates are merged the way the plugin merges them
 * (same rule, severity and description: one violation, resources in template order), so a cached
 * report is the report an uncached synthesis writes, finding for finding and in the same order.
 *
 * It replaces the plugin instance CDK adds by itself (the App's `builtinCloudFormationValidation`
 * and `CDK_VALIDATION=false` keep their meaning, and the plugin is not listed among the app's own
 * plugins, so templates are unchanged), and is installed once per process by {@link useValidationCache}.
 *
 * Entries live in `<kitCacheDir>/validation/<key>.json` (a few hundred bytes each), written by
 * rename so a killed process leaves no partial entry.
 *
 * @example
 * useValidationCache();  // before app.synth()
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import {
  CloudFormationValidatePlugin,
  type IPolicyValidationContext,
  type PolicyValidationPluginReport,
  type PolicyViolation,
} from 'aws-cdk-lib';
import { readJson, writeFileAtomic } from './bundle-cache';
import { kitCacheDir } from './bundling';
import { type PlainTemplate, takeStartedWorker } from './validation-worker';

/** Raised when the entry layout changes, so old entries are never read as new ones. */
const CACHE_FORMAT = 1;
/** cx-api's markers of an environment-agnostic stack, which CDK's validation context passes as undefined. */
const UNKNOWN_ACCOUNT = 'unknown-account';
const UNKNOWN_REGION = 'unknown-region';
/** Stands for the template's absolute path in a cached report (outdirs differ between runs). */
const TEMPLATE_PATH = '\u0000template\u0000';


/** What the cache did, for tests and benchmarks. */
export interface ValidationCacheStats {
  /** Templates the engine validated (absolute paths). */
  validated: string[];
  /** Templates whose findings came from the cache. */
  reused: string[];
}

/** The versions the findings depend on besides the templates. */
function engineVersions(): { cdk: string; engine: string } {
  const require = createRequire(import.meta.url);
  const cdkPackage = require.resolve('aws-cdk-lib/package.json');
  const enginePackage = createRequire(cdkPackage).resolve('@aws/cloudformation-validate/package.json');
  const version = (path: string) => (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
  return { cdk: version(cdkPackage), engine: version(enginePackage) };
}

const sha256 = (data: string): string => createHash('sha256').update(data).digest('hex');

/** The resource types of a set of templates: what selects CDK's built-in rules. */
function resourceTypesIn(templates: readonly string[]): string[] {
  const types = new Set<string>();
  for (const text of templates) {
    try {
      const resources = (JSON.parse(text) as { Resources?: Record<string, { Type?: unknown }> }).Resources ?? {};
      for (const r of Object.values(resources)) if (r && typeof r.Type === 'string') types.add(r.Type);
    } catch {
      // Not JSON: the engine reports it; it adds no types, as in CDK's own plugin.
    }
  }
  return [...types].sort();
}

export class CachedCloudFormationValidatePlugin extends CloudFormationValidatePlugin {
  readonly stats: ValidationCacheStats = { validated: [], reused: [] };
  /** Of {@link ValidationCacheStats.validated}, the templates the worker thread validated (startValidationWorker, validation-worker.ts). */
  readonly validatedOnWorker: string[] = [];
  /** Of {@link validatedOnWorker}, the templates validated ahead, as their stage was synthesized ({@link validateAhead}). */
  readonly validatedAhead: string[] = [];
  private readonly versions = engineVersions();
  /** The engine's own version string, recorded by the first run that loaded it. */
  private engineVersion?: string;
  /** The validator startValidationWorker started for this process, if any, until validation ends. */
  private worker = takeStartedWorker();
  /** The engine version the worker reported with its reports. */
  private workerVersion?: string;

  constructor(readonly cacheDir: string = join(kitCacheDir(), 'validation')) {
    super();
  }

  /** Answered from the cache when no template needed the engine, which then never loads (~0.4 s). */
  override get version(): string | undefined {
    if (this.engineVersion === undefined) {
      const recorded = readJson<{ engine: string; version: string }>(join(this.cacheDir, 'engine.json'));
      if (recorded?.engine === this.versions.engine) this.engineVersion = recorded.version;
      else {
        this.engineVersion = this.workerVersion ?? this.worker?.ask({})?.version ?? super.version;
        writeFileAtomic(join(this.cacheDir, 'engine.json'), JSON.stringify({ engine: this.versions.engine, version: this.engineVersion }));
      }
    }
    return this.engineVersion;
  }

  override validate(context: IPolicyValidationContext): PolicyValidationPluginReport {
    const texts = context.stackTemplates.map((s) => readFileSync(s.templatePath, 'utf8'));
    const types = resourceTypesIn(texts);
    const common = JSON.stringify({ format: CACHE_FORMAT, ...this.versions, types });
    const keys = context.stackTemplates.map((s, i) =>
      sha256(
        `${common}\n${JSON.stringify([s.stackConstructPath, basename(s.templatePath), s.accountId ?? null, s.region ?? null])}\n${texts[i]}`,
      ),
    );

    const reports = context.stackTemplates.map((s, i) => {
      const cached = readJson<{ key: string; violations: PolicyViolation[] }>(this.entryPath(keys[i]!));
      if (cached?.key !== keys[i]) return undefined;
      this.stats.reused.push(s.templatePath);
      return withTemplatePath(cached.violations, TEMPLATE_PATH, s.templatePath);
    });
    const missed = context.stackTemplates.filter((_s, i) => reports[i] === undefined);
    const reply = missed.length > 0 ? this.worker?.ask({ stackTemplates: missed.map(plainTemplate), types }) : undefined;
    const fromWorker = reply?.reports;
    this.workerVersion = reply?.version;
    this.worker?.stop();
    this.worker = undefined;
    if (fromWorker) {
      missed.forEach((s, j) => {
        const i = context.stackTemplates.indexOf(s);
        this.stats.validated.push(s.templatePath);
        this.validatedOnWorker.push(s.templatePath);
        if (reply?.early?.[j]) this.validatedAhead.push(s.templatePath);
        reports[i] = fromWorker[j]!;
        this.store(s, keys[i]!, texts[i]!, fromWorker[j]!);
      });
    } else if (missed.length > 0) {
      // The rules of every type in the set, as one uncached run loads them, whichever templates are
      // validated now: a template's findings do not depend on which others missed the cache.
      (this as unknown as { initializeEngine(types: Set<string>): unknown }).initializeEngine(new Set(types));
      context.stackTemplates.forEach((s, i) => {
        if (reports[i] !== undefined) return;
        // One template per call: its report lists its findings in the engine's order, which the
        // merge below needs (a report of several templates interleaves them).
        const report = super.validate({ ...context, stackTemplates: [s] });
        this.stats.validated.push(s.templatePath);
        reports[i] = report.violations;
        this.store(s, keys[i]!, texts[i]!, report.violations);
      });
    }
    return mergeReports(reports as PolicyViolation[][]);
  }

  /**
   * Hands the worker the templates of a stage just synthesized, to validate while the app goes on
   * (the other stages), unless the cache has validated the same template of the same stack before
   * (in whatever set of templates: its `.seen` marker), which then likely answers it.
   */
  validateAhead(assembly: CloudAssembly): void {
    if (this.worker === undefined) return;
    const ahead = assembly.stacks
      .map((s) => plainTemplate({
        stackConstructPath: s.hierarchicalId,
        templatePath: s.templateFullPath,
        accountId: s.environment.account !== UNKNOWN_ACCOUNT ? s.environment.account : undefined,
        region: s.environment.region !== UNKNOWN_REGION ? s.environment.region : undefined,
      }))
      .filter((s) => !existsSync(this.seenPath(s, readFileSync(s.templatePath, 'utf8'))));
    this.worker.validateAhead(ahead);
  }

  private store(s: PlainTemplate, key: string, text: string, violations: readonly PolicyViolation[]): void {
    writeFileAtomic(this.entryPath(key), JSON.stringify({ key, violations: withTemplatePath(violations, s.templatePath, TEMPLATE_PATH) }));
    writeFileAtomic(this.seenPath(s, text), '');
  }

  /** The marker of a template validated for a stack, whatever the other templates were. */
  private seenPath(s: PlainTemplate, text: string): string {
    const { cdk, engine } = this.versions;
    return join(this.cacheDir, `${sha256(`${CACHE_FORMAT} ${cdk} ${engine}\n${JSON.stringify([s.stackConstructPath, basename(s.templatePath), s.accountId ?? null, s.region ?? null])}\n${text}`)}.seen`);
  }

  private entryPath(key: string): string {
    return join(this.cacheDir, `${key}.json`);
  }
}

/**
 * Per-template findings merged as CDK's plugin merges the findings of several templates: a finding
 * with the rule, severity and description of an earlier one joins it; violations keep the order in
 * which they first appear.
 */
function mergeReports(perTemplate: readonly PolicyViolation[][]): PolicyValidationPluginReport {
  const violations: PolicyViolation[] = [];
  for (const report of perTemplate) {
    for (const v of report) {
      const existing = violations.find((e) => e.ruleName === v.ruleName && e.severity === v.severity && e.description === v.description);
      if (existing) (existing.violatingResources as unknown[]).push(...v.violatingResources);
      else violations.push({ ...v, violatingResources: [...v.violatingResources] });
    }
  }
  return { success: violations.every((v) => v.severity !== 'error' && v.severity !== 'fatal'), violations };
}

/** What the worker needs of a stack's template (structured-clonable). */
const plainTemplate = (s: PlainTemplate): PlainTemplate => ({
  stackConstructPath: s.stackConstructPath,
  templatePath: s.templatePath,
  accountId: s.accountId,
  region: s.region,
});

/** A deep copy of `violations` with every occurrence of the string `from` replaced by `to`. */
function withTemplatePath(violations: readonly PolicyViolation[], from: string, to: string): PolicyViolation[] {
  return JSON.parse(JSON.stringify(violations), (_k, value: unknown) =>
    typeof value === 'string' && value.includes(from) ? value.replaceAll(from, to) : value,
  ) as PolicyViolation[];
}


/**
 * Makes CDK validate templates through a {@link CachedCloudFormationValidatePlugin} over `cacheDir`
 * in this process (idempotent for the same directory), and returns it.
 */
export function useValidationCache(cacheDir: string = join(kitCacheDir(), 'validation')): CachedCloudFormationValidatePlugin {
  const holder = CloudFormationValidatePlugin as unknown as { _instance?: CloudFormationValidatePlugin };
  const current = holder._instance;
  if (current instanceof CachedCloudFormationValidatePlugin && current.cacheDir === cacheDir) return current;
  current?._dispose();
  const plugin = new CachedCloudFormationValidatePlugin(cacheDir);
  holder._instance = plugin;
  return plugin;
}

/**
 * Hands the templates of a stage just synthesized to this process's validation worker, if any
 * (see {@link CachedCloudFormationValidatePlugin.validateAhead}); MlopsStage calls it.
 */
export function validateAhead(assembly: CloudAssembly): void {
  const current = (CloudFormationValidatePlugin as unknown as { _instance?: CloudFormationValidatePlugin })._instance;
  if (current instanceof CachedCloudFormationValidatePlugin) current.validateAhead(assembly);
}
