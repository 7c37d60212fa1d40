/**
 * The synthesis caches (lib/constructs/{validation,nag}-cache.ts) serve only what an uncached
 * synthesis would report: an unchanged template or stage is answered from the cache, a changed one
 * is checked again and its new findings reported, and a cached finding fails synthesis as a fresh
 * one does. Small apps of their own (each cache over a temporary directory), never the shared ones.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, CfnWaitConditionHandle, CloudFormationValidatePlugin, type IPolicyValidationPlugin, Stack, Stage, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { CfnFleet } from 'aws-cdk-lib/aws-gamelift';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { acknowledgeFindingPrefix, nagPluginsFor, PREFIX_ACKNOWLEDGEMENTS } from '../../lib/constructs/nag';
import { stopNagCache, useNagCache } from '../../lib/constructs/nag-cache';
import { CachedCloudFormationValidatePlugin } from '../../lib/constructs/validation-cache';
import { startValidationWorker, ValidationWorker } from '../../lib/constructs/validation-worker';

const scratch = mkdtempSync(join(tmpdir(), 'mlops-synthesis-caches-'));
afterAll(() => {
  stopNagCache();
  rmSync(scratch, { recursive: true, force: true });
});
let outdirs = 0;
const newOutdir = () => join(scratch, `out-${++outdirs}`);

/**
 * CDK's own plugin, uncached: what each cache's report is compared with. One instance per rule set,
 * kept across synthesis as CDK keeps its own (its engine is built again only for resource types it
 * was not built with), instead of a new instance per comparison, which builds the same engine again
 * (seconds of CPU each). `fleet`: the rule set with the GameLift fleet's Rego rule.
 */
const cdkPlugin = { plain: new CloudFormationValidatePlugin(), fleet: new CloudFormationValidatePlugin() };
const uncached = (fleet = false) => (fleet ? cdkPlugin.fleet : cdkPlugin.plain);

/**
 * The CloudFormation Validate report of a synthesized app as CDK writes it (paths relative to its
 * outdir), without the stack traces CDK adds from the tree (they name the test's own lines).
 */
const validateReport = (outdir: string) =>
  (
    JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8'), (k, v: unknown) => (k === 'stackTraces' ? undefined : v)) as {
      pluginReports: { pluginName: string; violations: unknown[] }[];
    }
  ).pluginReports.find((r) => r.pluginName === CloudFormationValidatePlugin.PLUGIN_NAME)!;

describe('the CloudFormation validation cache', () => {
  const cacheDir = join(scratch, 'validation');

  /**
   * Two stacks; `zones` hard-coded subnets in the first (CloudFormation's W3010 each), a resource
   * with nothing to find in the second; with `fleet`, a third stack with a GameLift fleet (the one
   * resource type that selects one of CDK's Rego rules, so the engine is built with it). The plugin
   * under test is the app's only CloudFormation validation (CDK's built-in one is off).
   */
  function synth(zones: string[], plugin: IPolicyValidationPlugin, fleet = false) {
    const outdir = newOutdir();
    const app = new App({ outdir, builtinCloudFormationValidation: false });
    const network = new Stack(app, 'Network');
    const vpc = new ec2.CfnVPC(network, 'Vpc', { cidrBlock: '10.0.0.0/16' });
    zones.forEach((zone, i) =>
      new ec2.CfnSubnet(network, `Subnet${i}`, { vpcId: vpc.ref, cidrBlock: `10.0.${i}.0/24`, availabilityZone: zone }),
    );
    new CfnWaitConditionHandle(new Stack(app, 'Storage'), 'Handle');
    if (fleet) {
      new CfnFleet(new Stack(app, 'Games'), 'Fleet', {
        name: 'fleet',
        ec2InstanceType: 'c5.large',
        runtimeConfiguration: { serverProcesses: [{ concurrentExecutions: 1, launchPath: '/local/game/server' }] },
      });
    }
    Validations.of(app).addPlugins(plugin);
    app.synth();
    return validateReport(outdir);
  }
  const templates = (paths: string[]) => paths.map((p) => p.split('/').pop()).sort();

  it('validates each template once, answers an unchanged one from the cache, and validates a changed one again', { timeout: 240_000 }, () => {
    const first = new CachedCloudFormationValidatePlugin(cacheDir);
    const reported = synth(['us-east-1a'], first);
    expect(templates(first.stats.validated)).toEqual(['Network.template.json', 'Storage.template.json']);
    expect(JSON.stringify(reported)).toContain('Subnet0');

    const again = new CachedCloudFormationValidatePlugin(cacheDir);
    expect(synth(['us-east-1a'], again)).toEqual(reported);
    expect(again.stats).toEqual({ validated: [], reused: expect.arrayContaining([expect.stringMatching(/Network/), expect.stringMatching(/Storage/)]) });

    // One more subnet: only its template is validated, and its new finding is reported. (The first
    // plugin again, whose engine is loaded: what it holds in memory is that engine, never findings.)
    first.stats.validated.length = 0;
    const report = synth(['us-east-1a', 'us-east-1b'], first);
    expect(templates(first.stats.validated)).toEqual(['Network.template.json']);
    expect(templates(first.stats.reused)).toEqual(['Storage.template.json']);
    expect(JSON.stringify(report)).toContain('Subnet1');
    expect(JSON.stringify(report)).toContain("'us-east-1b'");
    // …in the report an uncached validation writes, finding for finding and in the same order.
    expect(report).toEqual(synth(['us-east-1a', 'us-east-1b'], uncached()));
  });

  it('validates on the worker thread what it misses, reporting what CDK\'s plugin reports, with or without a Rego rule selected', { timeout: 240_000 }, () => {
    for (const fleet of [false, true]) {
      startValidationWorker();
      const plugin = new CachedCloudFormationValidatePlugin(join(scratch, `worker-${fleet}`));
      const report = synth(['us-east-1a', 'us-east-1b'], plugin, fleet);
      const expected = fleet ? ['Games.template.json', 'Network.template.json', 'Storage.template.json'] : ['Network.template.json', 'Storage.template.json'];
      expect(templates(plugin.validatedOnWorker)).toEqual(expected);
      expect(JSON.stringify(report)).toContain("'us-east-1b'");
      expect(report).toEqual(synth(['us-east-1a', 'us-east-1b'], uncached(fleet), fleet));
      // The worker's version is the engine's, and the cache answers the same templates without it.
      expect(plugin.version).toBe(new CloudFormationValidatePlugin().version);
      const again = new CachedCloudFormationValidatePlugin(join(scratch, `worker-${fleet}`));
      expect(synth(['us-east-1a', 'us-east-1b'], again, fleet)).toEqual(report);
      expect(again.stats.validated).toEqual([]);
    }
  });

  it('reports on the worker (Liftoff only) what CDK\'s plugin reports in a process on V8\'s default tiers, template for template', { timeout: 240_000 }, () => {
    // Templates with findings (hard-coded zones), one with none, and a GameLift fleet's (a Rego rule).
    const outdir = newOutdir();
    const app = new App({ outdir, builtinCloudFormationValidation: false });
    const network = new Stack(app, 'Network');
    ['us-east-1a', 'us-east-1b', 'us-east-1c'].forEach((zone, i) =>
      new ec2.CfnSubnet(network, `Subnet${i}`, { vpcId: 'vpc-1', cidrBlock: `10.0.${i}.0/24`, availabilityZone: zone }),
    );
    new CfnWaitConditionHandle(new Stack(app, 'Storage'), 'Handle');
    new CfnFleet(new Stack(app, 'Games'), 'Fleet', {
      name: 'fleet',
      ec2InstanceType: 'c5.large',
      runtimeConfiguration: { serverProcesses: [{ concurrentExecutions: 1, launchPath: '/local/game/server' }] },
    });
    const stackTemplates = app.synth().stacks.map((s) => ({ stackConstructPath: s.hierarchicalId, templatePath: s.templateFullPath, accountId: undefined, region: undefined }));
    const types = ['AWS::CloudFormation::WaitConditionHandle', 'AWS::EC2::Subnet', 'AWS::GameLift::Fleet'];

    const worker = new ValidationWorker();
    const reply = worker.ask({ stackTemplates, types });
    worker.stop();
    // CDK's plugin in a fresh process with Node's default flags (TurboFan tier-up on), one template per call as the cache asks.
    const script = `const { CloudFormationValidatePlugin } = require(${JSON.stringify(createRequire(import.meta.url).resolve('aws-cdk-lib'))});
const plugin = new CloudFormationValidatePlugin();
plugin.initializeEngine(new Set(${JSON.stringify(types)}));
const templates = ${JSON.stringify(stackTemplates)};
process.stdout.write(JSON.stringify({ flags: process.execArgv.filter((a) => a.startsWith("--")), reports: templates.map((s) => plugin.validate({ stackTemplates: [s] }).violations) }));`;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect(child.stderr).toBe('');
    const expected = JSON.parse(child.stdout) as { flags: string[]; reports: unknown[][] };
    expect(expected.flags).toEqual([]);
    expect(reply?.reports).toEqual(expected.reports);
    // Something to compare: the subnets' findings (a hard-coded zone each, a VPC id that is not one).
    const subnets = expected.reports[stackTemplates.findIndex((s) => s.stackConstructPath === 'Network')] as { ruleName: string }[];
    expect(subnets.map((v) => v.ruleName).sort()).toEqual(['E1151', 'W3010', 'W3010', 'W3010']);
  });

  it('uses the reports the worker validated ahead as a stage was synthesized, and validates again a template changed after it', { timeout: 240_000 }, () => {
    /**
     * A stage of two stacks (a hard-coded zone in the first), validated by `plugin` alone; `change`
     * edits a template between the stage's synthesis and validation.
     */
    function stageSynth(plugin: IPolicyValidationPlugin, ahead: (assembly: ReturnType<Stage['synth']>) => void, change = false) {
      const outdir = newOutdir();
      const app = new App({ outdir, builtinCloudFormationValidation: false });
      const stage = new Stage(app, 'Env', { env: { account: '123456789012', region: 'us-east-1' } });
      const network = new Stack(stage, 'Network');
      new ec2.CfnSubnet(network, 'Subnet', { vpcId: 'vpc-1', cidrBlock: '10.0.0.0/24', availabilityZone: 'us-east-1a' });
      new CfnWaitConditionHandle(new Stack(stage, 'Storage'), 'Handle');
      Validations.of(app).addPlugins(plugin);
      const assembly = stage.synth();
      ahead(assembly);
      if (change) {
        const path = assembly.getStackByName('Env-Network').templateFullPath;
        writeFileSync(path, readFileSync(path, 'utf8').replace('us-east-1a', 'us-east-1b'));
      }
      app.synth();
      return validateReport(outdir);
    }
    for (const change of [false, true]) {
      startValidationWorker();
      const plugin = new CachedCloudFormationValidatePlugin(join(scratch, `ahead-${change}`));
      const report = stageSynth(
        plugin,
        (a) => {
          plugin.validateAhead(a);
          // Asks the worker (its cache has no engine.json yet), which answers after the templates sent ahead.
          expect(plugin.version).toBe(new CloudFormationValidatePlugin().version);
        },
        change,
      );
      expect(templates(plugin.validatedOnWorker)).toEqual([expect.stringMatching(/^EnvNetwork/), expect.stringMatching(/^EnvStorage/)]);
      const storageOnly = [expect.stringMatching(/^EnvStorage/)];
      expect(templates(plugin.validatedAhead)).toEqual(change ? storageOnly : templates(plugin.validatedOnWorker));
      expect(JSON.stringify(report)).toContain(change ? "'us-east-1b'" : "'us-east-1a'");
      expect(report).toEqual(stageSynth(uncached(), () => {}, change));
    }
  });
});

describe('the cdk-nag cache', () => {
  /** A stage of a bucket (AwsSolutions S1 and S10 unless acknowledged) and `extra` more, nagged as MlopsStage nags. */
  function synth(options: { extra?: number; acknowledged?: boolean } = {}) {
    const app = new App({ outdir: newOutdir(), builtinCloudFormationValidation: false });
    const stage = new Stage(app, 'mlops-staging');
    const stack = new Stack(stage, 'Storage');
    const buckets = [new s3.Bucket(stack, 'Bucket')];
    for (let i = 0; i < (options.extra ?? 0); i++) buckets.push(new s3.Bucket(stack, `Extra${i}`));
    if (options.acknowledged) {
      acknowledgeFindingPrefix(buckets[0]!, 'AwsSolutions-S', 'The test bucket stands for one whose access logging and TLS policy a test acknowledges on purpose.');
    }
    Validations.of(stage).addPlugins(...nagPluginsFor(stage, { name: 'staging' }));
    return () => app.synth();
  }

  it('reports a cached finding as a fresh one, and checks a changed stage again', () => {
    const cache = useNagCache([PREFIX_ACKNOWLEDGEMENTS], join(scratch, 'nag'));
    expect(synth()).toThrow(/AwsSolutions-S1[\s\S]*mlops-staging\/Storage\/Bucket\/Resource/);
    expect(cache.stats).toMatchObject({ checked: ['mlops-staging AwsSolutions'], reused: [] });

    // Unchanged: from the cache, and synthesis still fails on the finding.
    expect(synth()).toThrow(/AwsSolutions-S1[\s\S]*mlops-staging\/Storage\/Bucket\/Resource/);
    expect(cache.stats.reused).toEqual(['mlops-staging AwsSolutions']);

    // An acknowledgement is an input (the template is the same): checked again, and it passes.
    expect(synth({ acknowledged: true })).not.toThrow();
    expect(cache.stats.checked).toHaveLength(2);
    expect(synth({ acknowledged: true })).not.toThrow();
    expect(cache.stats.reused).toHaveLength(2);

    // A new resource with an unacknowledged finding: checked again, the new finding fails synthesis.
    expect(synth({ acknowledged: true, extra: 1 })).toThrow(/AwsSolutions-S1[\s\S]*mlops-staging\/Storage\/Extra0\/Resource/);
    expect(cache.stats.checked).toHaveLength(3);
    expect(cache.stats.uncacheable).toEqual([]);
  });

  it('checks a resource again whose own properties changed under an override that keeps its template', () => {
    const cache = useNagCache([PREFIX_ACKNOWLEDGEMENTS], join(scratch, 'nag-overrides'));
    const templates: string[] = [];
    const synthBucket = (bucketName: string) => {
      const outdir = newOutdir();
      const app = new App({ outdir, builtinCloudFormationValidation: false });
      const stage = new Stage(app, 'mlops-staging');
      const bucket = new s3.CfnBucket(new Stack(stage, 'Storage'), 'Bucket', { bucketName });
      bucket.addPropertyOverride('BucketName', 'overridden');
      Validations.of(stage).addPlugins(...nagPluginsFor(stage, { name: 'staging' }));
      expect(() => app.synth()).toThrow(/AwsSolutions-S1/);
      const dir = join(outdir, 'assembly-mlops-staging');
      templates.push(readdirSync(dir).filter((f) => f.endsWith('.template.json')).map((f) => readFileSync(join(dir, f), 'utf8')).join());
    };
    synthBucket('one');
    synthBucket('one');
    synthBucket('two');
    // A rule reads the construct's own `bucketName`, which the template no longer shows.
    expect(templates[2]).toBe(templates[0]);
    expect(cache.stats).toMatchObject({ checked: ['mlops-staging AwsSolutions', 'mlops-staging AwsSolutions'], reused: ['mlops-staging AwsSolutions'] });
  });
});
