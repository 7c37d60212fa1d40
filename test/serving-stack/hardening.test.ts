/**
 * Issue 18, the cluster's hardening as the staging and production templates state it: what model
 * pods can reach on their node, who administers the cluster and from where. Each "fails if" test
 * is a guard over every matching resource of the template, so a new node group or role that
 * skips the rule fails it.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { resolveEnvironment } from '../../lib/config';
import { evaluate } from '@marcbachmann/cel-js';
import { MFA_PRESENT } from '../../lib/constructs/model-cluster';
import { modelNetworkPolicies, POD_GUARD_POLICY, podGuardPolicy } from '../../lib/serving-infra/pod-security';
import { ROUTER_NAME, ROUTER_PORT } from '../../lib/serving-infra/router';
import { DEFAULT_MODEL_RESOURCES, EXECUTOR_PORT, MODEL_PORT, renderSeldonDeployment } from '../../lib/serving-infra/seldon';
import { newApp } from '../stack-synth';
import { AWS_ENVIRONMENTS, buildStage, synthServing } from './synth';

const environments = synthServing();

type Resource = { Properties: Record<string, any> };

/** The launch template a node group names (by `Ref`), resolved in the same template. */
function launchTemplateOf(template: Template, nodegroup: Resource): Resource | undefined {
  const ref = nodegroup.Properties['LaunchTemplate']?.Id?.Ref as string | undefined;
  return ref === undefined ? undefined : (template.toJSON()['Resources'][ref] as Resource);
}

/** Trust statements that let the account (its root principal) assume a role. */
function accountTrusts(template: Template): { role: string; statement: Record<string, any> }[] {
  return Object.entries(template.findResources('AWS::IAM::Role')).flatMap(([role, r]) =>
    (r.Properties.AssumeRolePolicyDocument.Statement as Record<string, any>[])
      .filter((s) => JSON.stringify(s.Principal ?? {}).includes(':root'))
      .map((statement) => ({ role, statement })),
  );
}

describe.each(AWS_ENVIRONMENTS)('Cluster hardening in %s', (name) => {
  const { template } = environments[name];

  it('launches model nodes with IMDSv2 only, hop limit 1 and an encrypted gp3 root volume', () => {
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        MetadataOptions: { HttpEndpoint: 'enabled', HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
        BlockDeviceMappings: [
          {
            DeviceName: '/dev/xvda',
            Ebs: { VolumeType: 'gp3', VolumeSize: 20, Encrypted: true, DeleteOnTermination: true },
          },
        ],
      }),
    });
    template.hasResourceProperties('AWS::EKS::Nodegroup', {
      LaunchTemplate: {
        Id: { Ref: Match.stringLikeRegexp('^ModelNodeLaunchTemplate') },
        Version: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ModelNodeLaunchTemplate'), 'LatestVersionNumber'] },
      },
      // The volume size lives in the launch template; EKS rejects both.
      DiskSize: Match.absent(),
    });
  });

  it('fails if any node group lets pods reach the instance metadata service or runs unencrypted volumes', () => {
    const nodegroups = Object.values(template.findResources('AWS::EKS::Nodegroup')) as Resource[];
    expect(nodegroups.length).toBeGreaterThan(0);
    for (const nodegroup of nodegroups) {
      const data = launchTemplateOf(template, nodegroup)?.Properties['LaunchTemplateData'];
      expect(data?.MetadataOptions, 'node group without a hardened launch template').toMatchObject({
        HttpTokens: 'required',
        HttpPutResponseHopLimit: 1,
      });
      const volumes = (data.BlockDeviceMappings ?? []) as { Ebs?: { Encrypted?: boolean } }[];
      expect(volumes.length).toBeGreaterThan(0);
      expect(volumes.every((v) => v.Ebs?.Encrypted === true)).toBe(true);
    }
  });

  it('grants cluster rights only through access entries: the creating role is no administrator', () => {
    template.hasResourceProperties('AWS::EKS::Cluster', {
      AccessConfig: { AuthenticationMode: 'API', BootstrapClusterCreatorAdminPermissions: false },
    });
  });

  it('lets the cluster administrator role be assumed only in an MFA session, for an hour at most', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      Description: Match.stringLikeRegexp('Administers the mlops-kit .* EKS cluster'),
      MaxSessionDuration: 3600,
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Action: 'sts:AssumeRole',
            Effect: 'Allow',
            Principal: { AWS: Match.anyValue() },
            Condition: { Bool: { [MFA_PRESENT]: 'true' } },
          },
        ],
      },
    });
  });

  it('fails if any role trusts the account root without an MFA condition', () => {
    const trusts = accountTrusts(template);
    expect(trusts.length).toBeGreaterThan(0);
    const bare = trusts.filter((t) => t.statement.Condition?.Bool?.[MFA_PRESENT] !== 'true').map((t) => t.role);
    expect(bare).toEqual([]);
  });

  it('keeps the Kubernetes API private when no public CIDRs are configured', () => {
    template.hasResourceProperties('AWS::EKS::Cluster', {
      ResourcesVpcConfig: { EndpointPrivateAccess: true, EndpointPublicAccess: false },
    });
  });
});

describe('Staging with publicEndpointCidrs', () => {
  it('opens the public endpoint to exactly the configured CIDRs', () => {
    const config = resolveEnvironment('staging', {
      env: {},
      overrides: { staging: { serving: { publicEndpointCidrs: ['203.0.113.0/24', '198.51.100.0/28'] } } },
    });
    const { stack } = buildStage(newApp(), config);
    Template.fromStack(stack).hasResourceProperties('AWS::EKS::Cluster', {
      ResourcesVpcConfig: {
        EndpointPrivateAccess: true,
        EndpointPublicAccess: true,
        PublicAccessCidrs: ['203.0.113.0/24', '198.51.100.0/28'],
      },
    });
  });
});

/** Every Kubernetes manifest the stack applies, as JSON text (tokens left as CloudFormation). */
const manifestsOf = (template: Template): string[] =>
  Object.values(template.findResources('Custom::AWSCDK-EKS-KubernetesResource')).map((r) =>
    JSON.stringify(r.Properties.Manifest),
  );

describe.each(AWS_ENVIRONMENTS)('Cluster add-ons and pod security in %s', (name) => {
  const { template, config } = environments[name];
  const versions = config.serving.addonVersions;

  it('runs vpc-cni (network policies enforced), coredns and kube-proxy as managed add-ons at the pinned versions', () => {
    template.hasResourceProperties('AWS::EKS::Addon', {
      AddonName: 'vpc-cni',
      AddonVersion: versions.vpcCni,
      ConfigurationValues: JSON.stringify({ enableNetworkPolicy: 'true' }),
      ResolveConflicts: 'OVERWRITE',
      PreserveOnDelete: true,
    });
    for (const [addon, version] of [
      ['coredns', versions.coredns],
      ['kube-proxy', versions.kubeProxy],
      ['eks-pod-identity-agent', versions.podIdentityAgent],
      ['amazon-cloudwatch-observability', versions.cloudwatchObservability],
    ] as const) {
      template.hasResourceProperties('AWS::EKS::Addon', { AddonName: addon, AddonVersion: version });
    }
  });

  it('fails if any managed add-on is unpinned', () => {
    const addons = Object.values(template.findResources('AWS::EKS::Addon')) as Resource[];
    expect(addons.map((a) => a.Properties['AddonName']).sort()).toEqual(
      ['amazon-cloudwatch-observability', 'coredns', 'eks-pod-identity-agent', 'kube-proxy', 'metrics-server', 'vpc-cni'],
    );
    expect(addons.filter((a) => a.Properties['AddonVersion'] === undefined)).toEqual([]);
  });

  it('labels seldon and seldon-system for Pod Security Admission (baseline enforced, restricted audited)', () => {
    const manifests = manifestsOf(template);
    for (const namespace of ['seldon', 'seldon-system']) {
      const ns = manifests.find((m) => m.includes('\\"kind\\":\\"Namespace\\"') && m.includes(`\\"name\\":\\"${namespace}\\"`));
      expect(ns, namespace).toBeDefined();
      expect(ns).toContain('pod-security.kubernetes.io/enforce\\":\\"baseline');
      expect(ns).toContain('pod-security.kubernetes.io/audit\\":\\"restricted');
    }
    template.hasResourceProperties('Custom::AWSCDK-EKS-HelmChart', {
      Release: 'seldon-core',
      Namespace: 'seldon-system',
      CreateNamespace: Match.absent(),
    });
  });

  it('applies the pod guard policy, its binding to seldon, and the model network policies', () => {
    const manifests = manifestsOf(template).join('\n');
    expect(manifests).toContain('ValidatingAdmissionPolicyBinding');
    expect(manifests).toContain(POD_GUARD_POLICY);
    for (const policy of ['default-deny', 'allow-dns', 'router-from-load-balancer', 'models-from-router']) {
      expect(manifests).toContain(`\\"name\\":\\"${policy}\\"`);
    }
  });
});

describe('Model pod guard (ValidatingAdmissionPolicy)', () => {
  const [policy, binding] = podGuardPolicy() as [Record<string, any>, Record<string, any>];
  const validations = policy.spec.validations as { expression: string; message: string }[];
  /** The messages of the validations a pod fails, as the API server would evaluate them. */
  const rejections = (pod: Record<string, unknown>): string[] =>
    validations.filter((v) => evaluate(v.expression, { object: pod }) !== true).map((v) => v.message);
  const pod = (spec: Record<string, unknown>) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    spec: { containers: [{ name: 'model', image: 'x' }], ...spec },
  });

  it('admits the model pod the deployer renders and a bare pod', () => {
    const [sdep] = renderSeldonDeployment({
      model: 'wine-quality',
      version: '4',
      artifactUri: 's3://artifacts/runs/4/model.tar.gz',
      image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/cdk-assets:abc',
      namespace: 'seldon',
      replicas: 1,
      resources: DEFAULT_MODEL_RESOURCES,
    });
    const spec = sdep!.spec.predictors[0]!.componentSpecs[0]!.spec as unknown as Record<string, unknown>;
    expect(spec['automountServiceAccountToken']).toBe(false);
    expect(rejections({ apiVersion: 'v1', kind: 'Pod', spec })).toEqual([]);
    expect(rejections(pod({}))).toEqual([]);
  });

  it.each([
    ['a privileged container', pod({ containers: [{ name: 'm', securityContext: { privileged: true } }] })],
    ['a privileged init container', pod({ initContainers: [{ name: 'i', securityContext: { privileged: true } }] })],
    ['a hostPath volume', pod({ volumes: [{ name: 'root', hostPath: { path: '/' } }] })],
    ['the host network', pod({ hostNetwork: true })],
  ])('fails if a pod in seldon asks for %s', (_, bad) => {
    expect(rejections(bad)).toHaveLength(1);
  });

  it('binds the policy to the model namespace only, denying', () => {
    expect(binding.spec).toEqual({
      policyName: POD_GUARD_POLICY,
      validationActions: ['Deny'],
      matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'seldon' } } },
    });
    expect(policy.spec.failurePolicy).toBe('Fail');
  });
});

describe('Model network policies', () => {
  const policies = modelNetworkPolicies({ vpcCidr: '10.40.0.0/16' }) as Record<string, any>[];
  const byName = Object.fromEntries(policies.map((p) => [p.metadata.name as string, p.spec]));

  it('deny all ingress and egress in seldon unless a policy allows it', () => {
    expect(policies.every((p) => p.metadata.namespace === 'seldon')).toBe(true);
    expect(byName['default-deny']).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  });

  it('let the router reach model pods only on the executor and model ports, and nothing else', () => {
    const ports = [
      { protocol: 'TCP', port: EXECUTOR_PORT },
      { protocol: 'TCP', port: MODEL_PORT },
    ];
    expect(byName['models-from-router'].ingress).toEqual([
      { from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': ROUTER_NAME } } }], ports },
    ]);
    expect(byName['router-from-load-balancer'].egress).toEqual([
      { to: [{ podSelector: { matchExpressions: [{ key: 'seldon-deployment-id', operator: 'Exists' }] } }], ports },
    ]);
    expect(byName['router-from-load-balancer'].ingress).toEqual([
      { from: [{ ipBlock: { cidr: '10.40.0.0/16' } }], ports: [{ protocol: 'TCP', port: ROUTER_PORT }] },
    ]);
  });

  it('let model pods reach only DNS, the Pod Identity agent and HTTPS on the endpoint subnets', () => {
    const egress = byName['models-from-router'].egress as { ports: { port: number }[] }[];
    expect(egress.flatMap((e) => e.ports.map((p) => p.port)).sort()).toEqual([443, 80]);
    expect(JSON.stringify(egress)).toContain('169.254.170.23/32');
    const pinned = modelNetworkPolicies({ vpcCidr: '10.40.0.0/16', endpointCidrs: ['10.40.99.0/27', '10.40.99.32/27'] }) as Record<string, any>[];
    const https = (pinned.find((p) => p.metadata.name === 'models-from-router')!.spec.egress as { to: unknown[]; ports: { port: number }[] }[])
      .filter((e) => e.ports.some((p) => p.port === 443));
    expect(https).toEqual([
      { to: [{ ipBlock: { cidr: '10.40.99.0/27' } }, { ipBlock: { cidr: '10.40.99.32/27' } }], ports: [{ protocol: 'TCP', port: 443 }] },
    ]);
    expect(() => modelNetworkPolicies({ vpcCidr: '10.40.0.0/16', endpointCidrs: [] })).toThrow(/at least one endpoint range/);
    expect(byName['allow-dns'].egress[0].ports).toEqual([
      { protocol: 'UDP', port: 53 },
      { protocol: 'TCP', port: 53 },
    ]);
  });
});

describe('ModelCluster add-on versions', () => {
  it.each([
    [{ kubeProxy: 'v1.35.2-eksbuild.1' }, /addonVersions\.kubeProxy must be a v1\.36\.x build/],
    [{ vpcCni: 'latest' }, /addonVersions\.vpcCni must be an EKS add-on build such as v1\.20\.4-eksbuild\.1, but "latest" was provided/],
  ])('fails if given %o', (versions, message) => {
    const config = resolveEnvironment('staging', { env: {} });
    expect(() =>
      buildStage(newApp(), { ...config, serving: { ...config.serving, addonVersions: { ...config.serving.addonVersions, ...versions } } }),
    ).toThrow(message);
  });

  it('fails if the config pins an add-on to something other than an EKS build', () => {
    expect(() =>
      resolveEnvironment('production', { env: {}, overrides: { production: { serving: { addonVersions: { coredns: 'v1.12' } } } } }),
    ).toThrow(/serving\.addonVersions entries must be EKS add-on builds/);
  });
});

describe.each(AWS_ENVIRONMENTS)('Service-created log groups in %s', (name) => {
  const { template, config } = environments[name];
  const groups = template.findResources('AWS::Logs::LogGroup');
  /** The LogGroup resource a `{Ref}` (or a name built from one) points at. */
  const groupOf = (ref: unknown): Record<string, any> | undefined => {
    const id = (ref as { Ref?: string } | undefined)?.Ref;
    return id === undefined ? undefined : groups[id];
  };

  it('fails if any function (the kubectl provider included) logs to a group without retention or the logs key', () => {
    const functions = Object.entries(template.findResources('AWS::Lambda::Function'));
    expect(functions.some(([id]) => id.includes('Kubectl') || id.includes('KubectlProvider'))).toBe(true);
    const unowned = functions
      .filter(([, fn]) => {
        const group = groupOf(fn['Properties']['LoggingConfig']?.['LogGroup']);
        return group?.['Properties']['RetentionInDays'] !== config.logs.retentionDays || group['Properties']['KmsKeyId'] === undefined;
      })
      .map(([id]) => id);
    expect(unowned).toEqual([]);
  });

  it('fails if the EKS control-plane log group is not the kit\'s, with retention and key, made before the cluster', () => {
    const [clusterId, cluster] = Object.entries(template.findResources('AWS::EKS::Cluster'))[0]!;
    const name = cluster['Properties']['Name'] as string;
    expect(typeof name).toBe('string');
    expect(cluster['Properties']['Logging']['ClusterLogging']['EnabledTypes'].map((t: { Type: string }) => t.Type).sort()).toEqual(
      ['api', 'audit', 'authenticator', 'controllerManager', 'scheduler'],
    );
    const [groupId, group] = Object.entries(groups).find(([, g]) => g['Properties']['LogGroupName'] === `/aws/eks/${name}/cluster`)!;
    expect(group['Properties']['RetentionInDays']).toBe(config.logs.retentionDays);
    expect(group['Properties']['KmsKeyId']).toBeDefined();
    expect(cluster['DependsOn'], clusterId).toContain(groupId);
  });

  it('fails if an API stage logs executions to a group API Gateway would create (no retention, no key)', () => {
    const stages = Object.values(template.findResources('AWS::ApiGateway::Stage'));
    expect(stages.length).toBeGreaterThan(0);
    for (const stage of stages) {
      const api = stage['Properties']['RestApiId']['Ref'] as string;
      const name = { 'Fn::Join': ['', ['API-Gateway-Execution-Logs_', { Ref: api }, `/${stage['Properties']['StageName']}`]] };
      const group = Object.values(groups).find((g) => JSON.stringify(g['Properties']['LogGroupName']) === JSON.stringify(name));
      expect(group, `execution log group of ${api}`).toBeDefined();
      expect(group!['Properties']['RetentionInDays']).toBe(config.logs.retentionDays);
      expect(group!['Properties']['KmsKeyId']).toBeDefined();
    }
  });
});

describe.each(AWS_ENVIRONMENTS)('kubectl provider exposure in %s', (name) => {
  const { template } = environments[name];
  const functions = template.findResources('AWS::Lambda::Function');
  const kubectl = Object.keys(functions).filter((id) => id.startsWith('ClusterKubectlProvider'));
  const onEvent = kubectl.find((id) => id.includes('onEvent'))!;
  const invokeGrants = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) =>
    (p['Properties']['PolicyDocument']['Statement'] as { Action: string | string[]; Resource: unknown }[])
      .filter((s) => [s.Action].flat().some((a) => a === 'lambda:InvokeFunction' || a === 'lambda:*' || a === '*'))
      .map((s) => ({ roles: JSON.stringify(p['Properties']['Roles']), resource: JSON.stringify(s.Resource) })),
  );

  it('fails if anyone but the provider framework may invoke the kubectl handler', () => {
    expect(kubectl.length).toBe(2);
    const onHandler = invokeGrants.filter((g) => kubectl.some((id) => g.resource.includes(id)));
    expect(onHandler.map((g) => g.roles)).toEqual([expect.stringContaining('ClusterKubectlProviderframeworkonEventServiceRole')]);
    // CloudFormation reaches the framework's function through the custom resources' ServiceToken,
    // with the deploying identity's own rights: no role of the kit is granted it.
    expect(invokeGrants.filter((g) => g.resource.includes(onEvent))).toEqual([]);
  });

  it('fails if a function policy opens either kubectl function, or an invoke grant names every function', () => {
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission'));
    expect(permissions.filter((p) => kubectl.some((id) => JSON.stringify(p['Properties']['FunctionName']).includes(id)))).toEqual([]);
    for (const g of invokeGrants) {
      expect(g.resource).not.toBe('"*"');
      expect(g.resource).not.toMatch(/function:\*|function\/\*/);
    }
  });
});

describe.each(AWS_ENVIRONMENTS)('Model pods egress through the VPC endpoints in %s', (name) => {
  const { template } = environments[name];
  const endpoints = template.findResources('AWS::EC2::VPCEndpoint');
  const s3 = Object.entries(endpoints).filter(([, e]) => JSON.stringify(e['Properties']['ServiceName']).endsWith('.s3"]]}') || /\.s3"$/.test(JSON.stringify(e['Properties']['ServiceName'])));
  const subnets = template.findResources('AWS::EC2::Subnet');
  const endpointSubnets = Object.entries(subnets).filter(([id]) => id.startsWith('Vpcendpoints'));

  it('has a gateway and an interface endpoint for S3, the interface one answering S3 names inside the VPC', () => {
    expect(s3.map(([, e]) => e['Properties']['VpcEndpointType']).sort()).toEqual(['Gateway', 'Interface']);
    const iface = s3.find(([, e]) => e['Properties']['VpcEndpointType'] === 'Interface')![1]['Properties'];
    expect(iface['PrivateDnsEnabled']).toBe(true);
    expect(iface['DnsOptions']).toEqual({ PrivateDnsOnlyForInboundResolverEndpoint: 'AllResolvers' });
  });

  it('fails if an S3 endpoint policy allows more than model reads, request-log writes and node image layers', () => {
    for (const [id, e] of s3) {
      const statements = e['Properties']['PolicyDocument']['Statement'] as { Action: string | string[]; Resource: unknown; Effect: string }[];
      for (const s of statements) {
        expect(s.Effect, id).toBe('Allow');
        expect([s.Action].flat().every((a) => a === 's3:GetObject' || a === 's3:PutObject'), id).toBe(true);
        const resources = JSON.stringify(s.Resource);
        expect(resources, id).not.toMatch(/"\*"|:::\*/);
        if ([s.Action].flat().includes('s3:PutObject')) expect(resources, id).toContain('/predictions/*');
      }
      const all = JSON.stringify(statements);
      expect(all).toContain('/models/*/model.tar.gz');
      expect(all).toContain('starport-layer-bucket/*');
      expect(all).not.toContain('/data/');
    }
  });

  it('places every interface endpoint in the endpoint subnets, and lets model pods open HTTPS only to them', () => {
    expect(endpointSubnets.length).toBe(environments[name].config.serving.availabilityZones.length);
    const cidrs = endpointSubnets.map(([, s]) => s['Properties']['CidrBlock'] as string);
    for (const [id, e] of Object.entries(endpoints).filter(([, e]) => e['Properties']['VpcEndpointType'] === 'Interface')) {
      expect(JSON.stringify(e['Properties']['SubnetIds']), id).toEqual(JSON.stringify(endpointSubnets.map(([sid]) => ({ Ref: sid }))));
    }
    const manifest = Object.entries(template.findResources('Custom::AWSCDK-EKS-KubernetesResource')).find(([id]) =>
      id.includes('ModelNetworkPolicies'),
    )![1];
    const text = JSON.stringify(manifest['Properties']['Manifest']);
    for (const cidr of cidrs) expect(text).toContain(cidr);
    expect(text).not.toContain('0.0.0.0/0');
  });
});
