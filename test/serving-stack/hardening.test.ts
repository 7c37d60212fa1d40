/**
 * Issue 18, the cluster's hardening as the staging and production templates state it: what model
 * pods can reach on their node, who administers the cluster and from where. Each "fails if" test
 * is a guard over every matching resource of the template, so a new node group or role that
 * skips the rule fails it.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { resolveEnvironment } from '../../lib/config';
import { MFA_PRESENT } from '../../lib/constructs/model-cluster';
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
