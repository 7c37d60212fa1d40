import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  ENVIRONMENT_NAMES,
  PLACEHOLDER_ACCOUNT,
  PLACEHOLDER_REGION,
  resolveEnvironment,
  resolveEnvironments,
} from '../../lib/config';

describe('environment selection', () => {
  it('resolves all three environments when none is named', () => {
    expect(resolveEnvironments(undefined).map((c) => c.name)).toEqual([...ENVIRONMENT_NAMES]);
    expect(resolveEnvironments('').map((c) => c.name)).toEqual([...ENVIRONMENT_NAMES]);
  });

  it('resolves only the named environment', () => {
    expect(resolveEnvironments('staging').map((c) => c.name)).toEqual(['staging']);
  });

  it('fails if the name is unknown, listing the valid ones', () => {
    expect(() => resolveEnvironments('prod')).toThrow(ConfigError);
    expect(() => resolveEnvironments('prod')).toThrow(
      /Unknown environment 'prod': valid environments are local, staging, production/,
    );
    expect(() => resolveEnvironments(42)).toThrow(/valid environments are/);
  });
});

describe('account and region', () => {
  it('uses offline placeholders with no context and no credentials', () => {
    const c = resolveEnvironment('staging', { env: {} });
    expect([c.account, c.region]).toEqual([PLACEHOLDER_ACCOUNT, PLACEHOLDER_REGION]);
  });

  it('prefers context over MLOPS_<ENV>_* over CDK_DEFAULT_*', () => {
    const env = {
      MLOPS_PRODUCTION_ACCOUNT: '222222222222',
      CDK_DEFAULT_ACCOUNT: '333333333333',
      CDK_DEFAULT_REGION: 'eu-west-1',
    };
    expect(resolveEnvironment('production', { env }).account).toBe('222222222222');
    expect(resolveEnvironment('production', { env }).region).toBe('eu-west-1');
    const context = { 'production:account': '111111111111', 'production:region': 'eu-central-1' };
    const c = resolveEnvironment('production', { env, context });
    expect([c.account, c.region]).toEqual(['111111111111', 'eu-central-1']);
  });

  it('fails if the account is not a 12-digit id', () => {
    expect(() => resolveEnvironment('staging', { context: { 'staging:account': '12345' } })).toThrow(
      /account: account must be a 12-digit AWS account id/,
    );
  });
});

describe('environments differ where they should', () => {
  const [local, staging, production] = ENVIRONMENT_NAMES.map((n) => resolveEnvironment(n, { env: {} }));

  it('retains data only in production', () => {
    expect([local!.removalPolicy, staging!.removalPolicy, production!.removalPolicy]).toEqual([
      'destroy',
      'destroy',
      'retain',
    ]);
  });

  it('authenticates APIs outside local and adds WAF in production', () => {
    expect(local!.api.auth).toBe('none');
    expect(staging!.api.auth).toBe('iam');
    expect(production!.api.auth).toBe('iam');
    expect(production!.api.waf).toBe(true);
  });

  it('scales sizes, retention and scan limits up from staging to production', () => {
    expect(production!.logs.retentionDays).toBeGreaterThan(staging!.logs.retentionDays);
    expect(production!.athena.bytesScannedCutoffPerQuery).toBeGreaterThan(
      staging!.athena.bytesScannedCutoffPerQuery,
    );
    expect(production!.serving.minNodes).toBeGreaterThan(staging!.serving.minNodes);
    expect(production!.serving.availabilityZones.length).toBeGreaterThanOrEqual(3);
    expect(production!.serving.privateEndpoint).toBe(true);
    expect(production!.dataLake.archiveAfterDays).not.toBeNull();
    expect(staging!.dataLake.archiveAfterDays).toBeNull();
  });

  it('gives each environment its own Glue database', () => {
    expect(new Set([local, staging, production].map((c) => c!.dataLake.glueDatabaseName)).size).toBe(3);
  });
});

describe('validation', () => {
  const fails = (name: 'local' | 'staging' | 'production', overrides: object, message: RegExp) =>
    expect(() => resolveEnvironment(name, { env: {}, overrides: { [name]: overrides } })).toThrow(message);

  it('fails if staging or production serve unauthenticated', () => {
    fails(
      'staging',
      { api: { auth: 'none' } },
      /api\.auth must be 'iam' in staging, but 'none' was provided/,
    );
    fails('production', { api: { auth: 'none' } }, /api\.auth must be 'iam' in production/);
  });

  it('fails if production lets anyone but the release machine move a version into Production', () => {
    fails(
      'production',
      { registry: { productionThroughReleaseOnly: false } },
      /registry\.productionThroughReleaseOnly must be true in production, but false was provided/,
    );
    fails('local', { registry: { productionThroughReleaseOnly: true } }, /must be false in local \(its gateway has no IAM/);
  });

  it('fails if staging or production would train outside a VPC, or a zone is not a suffix', () => {
    fails('staging', { pipelines: { trainingAvailabilityZones: null } }, /pipelines\.trainingAvailabilityZones must name zones in staging/);
    fails('production', { pipelines: { trainingAvailabilityZones: ['us-east-1a'] } }, /must be zone suffixes such as a/);
  });

  it('fails if an API caller is not an IAM role ARN', () => {
    fails('staging', { api: { callers: ['arn:aws:iam::123456789012:user/alice'] } }, /api\.callers entries must be IAM role ARNs/);
    expect(resolveEnvironment('staging', { env: {}, overrides: { staging: { api: { callers: ['arn:aws:iam::123456789012:role/scoring-*'] } } } }).api.callers).toEqual([
      'arn:aws:iam::123456789012:role/scoring-*',
    ]);
  });

  it('fails if production data would be destroyed with its stack', () => {
    fails(
      'production',
      { removalPolicy: 'destroy' },
      /removalPolicy must be 'retain' in production, but 'destroy'/,
    );
  });

  it('fails if production exposes a public EKS endpoint', () => {
    fails(
      'production',
      { serving: { privateEndpoint: false } },
      /privateEndpoint must be true in production/,
    );
  });

  it('fails if a public EKS endpoint is opened to the whole internet', () => {
    fails(
      'staging',
      { serving: { publicEndpointCidrs: ['0.0.0.0/0'] } },
      /publicEndpointCidrs entries must be narrower than \/0/,
    );
    fails('staging', { serving: { publicEndpointCidrs: ['203.0.113.7'] } }, /must be IPv4 CIDR blocks/);
  });

  it('fails if a private EKS endpoint is given public CIDRs', () => {
    fails(
      'production',
      { serving: { publicEndpointCidrs: ['203.0.113.0/24'] } },
      /publicEndpointCidrs must be empty when serving\.privateEndpoint is true, but 203\.0\.113\.0\/24 was provided/,
    );
  });

  it('fails if the Athena scan cutoff is under the Athena minimum', () => {
    fails('staging', { athena: { bytesScannedCutoffPerQuery: 1000 } }, /at least 10,000,000 bytes/);
  });

  it('fails if log retention is a value CloudWatch does not accept', () => {
    fails('staging', { logs: { retentionDays: 10 } }, /logs\.retentionDays must be one of 1, 3, 5/);
  });

  it('fails if node counts are out of order', () => {
    fails('staging', { serving: { minNodes: 4 } }, /min <= desired <= max, but 4 <= 2 <= 3/);
  });

  it('fails if objects would move to infrequent access before S3 allows it', () => {
    fails(
      'production',
      { dataLake: { infrequentAccessAfterDays: 10 } },
      /at least 30 \(S3 minimum\), but 10/,
    );
  });

  it('fails if archiving comes before infrequent access', () => {
    fails(
      'production',
      { dataLake: { archiveAfterDays: 20 } },
      /archiveAfterDays must be after infrequentAccessAfterDays \(30\), but 20/,
    );
  });

  it('fails if a value has the wrong type', () => {
    fails('staging', { lambda: { memorySizeMb: '512' } }, /lambda\.memorySizeMb/);
  });
});

describe('account quotas', () => {
  it('defaults every environment to a new account’s quotas', () => {
    for (const name of ENVIRONMENT_NAMES) {
      expect(resolveEnvironment(name, { env: {} }).accountQuotas).toEqual({
        lambdaConcurrency: 1000,
        apiGatewayThrottleRps: 10_000,
        apiGatewayThrottleBurst: 5000,
      });
    }
  });

  it('takes a raised quota per environment', () => {
    const c = resolveEnvironment('production', {
      env: {},
      overrides: { production: { accountQuotas: { lambdaConcurrency: 5000 } } },
    });
    expect(c.accountQuotas.lambdaConcurrency).toBe(5000);
    expect(c.accountQuotas.apiGatewayThrottleRps).toBe(10_000);
  });

  it('fails if the Lambda quota is below what Lambda keeps unreserved', () => {
    expect(() =>
      resolveEnvironment('staging', { env: {}, overrides: { staging: { accountQuotas: { lambdaConcurrency: 50 } } } }),
    ).toThrow(/accountQuotas\.lambdaConcurrency must be at least 100 \(what Lambda keeps unreserved\)/);
  });
});
