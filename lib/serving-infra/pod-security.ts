/**
 * What a pod in the model namespaces may be and reach (issue 18): Pod Security Admission levels on
 * the namespaces, a `ValidatingAdmissionPolicy` that refuses privileged, hostPath and hostNetwork
 * pods in `seldon` whatever the namespace labels say, and NetworkPolicies that deny everything in
 * `seldon` except the paths serving needs. Plain Kubernetes objects; `ModelCluster` applies them.
 *
 * @example
 * cluster.addManifest('ModelNetworkPolicies', ...modelNetworkPolicies({ vpcCidr: '10.40.0.0/16' }));
 */
import { ROUTER_NAME, ROUTER_PORT } from './router';
import { EXECUTOR_PORT, MANAGED_BY, MANAGED_BY_LABEL, MODEL_NAMESPACE, MODEL_PORT } from './seldon';

/** The namespace the Seldon Core operator runs in. */
export const SELDON_SYSTEM_NAMESPACE = 'seldon-system';

/**
 * Pod Security Admission: `baseline` enforced, `restricted` warned and audited. Not `restricted`
 * enforced: the Seldon Core 1.17 operator injects its executor container into every model pod with
 * at most `runAsUser` in its security context (no `allowPrivilegeEscalation: false`, no dropped
 * capabilities, no seccomp profile; `operator/controllers/seldondeployment_engine.go` in 1.17), so
 * `restricted` would reject every SeldonDeployment's pods. The operator's own pod in
 * `seldon-system` gets the same level until its chart's security context is checked against
 * `restricted` (the audit log will say). `baseline` still refuses privileged pods,
 * host namespaces, hostPath volumes and added capabilities; the audit log names every pod that
 * `restricted` would refuse.
 */
export const POD_SECURITY_LABELS: Readonly<Record<string, string>> = {
  'pod-security.kubernetes.io/enforce': 'baseline',
  'pod-security.kubernetes.io/enforce-version': 'latest',
  'pod-security.kubernetes.io/warn': 'restricted',
  'pod-security.kubernetes.io/audit': 'restricted',
};

/** A namespace with the kit's label and the Pod Security Admission labels. */
export function hardenedNamespace(name: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: { [MANAGED_BY_LABEL]: MANAGED_BY, ...POD_SECURITY_LABELS } },
  };
}

export const POD_GUARD_POLICY = 'mlops-kit-model-pod-guard';

/**
 * Refuses, in the model namespace, a pod that is privileged, mounts a host path or joins the host
 * network. The deployer may create any SeldonDeployment there and the operator turns its pod spec
 * into pods, so this holds even if someone relabels the namespace below `baseline`.
 */
export function podGuardPolicy(): Record<string, unknown>[] {
  const containers = '((has(object.spec.initContainers) ? object.spec.initContainers : []) + object.spec.containers)';
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: POD_GUARD_POLICY, labels: { [MANAGED_BY_LABEL]: MANAGED_BY } },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['pods'] }],
        },
        validations: [
          {
            expression: `${containers}.all(c, !has(c.securityContext) || !has(c.securityContext.privileged) || c.securityContext.privileged == false)`,
            message: 'pods in the model namespace must not run privileged containers',
          },
          {
            expression: '!has(object.spec.volumes) || object.spec.volumes.all(v, !has(v.hostPath))',
            message: 'pods in the model namespace must not mount host paths',
          },
          {
            expression: '!has(object.spec.hostNetwork) || object.spec.hostNetwork == false',
            message: 'pods in the model namespace must not use the host network',
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: POD_GUARD_POLICY, labels: { [MANAGED_BY_LABEL]: MANAGED_BY } },
      spec: {
        policyName: POD_GUARD_POLICY,
        validationActions: ['Deny'],
        matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': MODEL_NAMESPACE } } },
      },
    },
  ];
}

/** Where the EKS Pod Identity agent answers on every node (link-local, host network). */
export const POD_IDENTITY_AGENT_CIDR = '169.254.170.23/32';

export interface ModelNetworkPolicyOptions {
  /** The VPC's range: the NLB's addresses, which reach the router. */
  readonly vpcCidr: string;
  /**
   * Where the VPC's interface endpoints are (S3, STS, ECR, Logs, EKS auth): the only HTTPS model
   * pods may open. S3 resolves there through the S3 interface endpoint's private DNS.
   * @default [vpcCidr]
   */
  readonly endpointCidrs?: readonly string[];
}

/**
 * Default deny in `seldon`, then exactly: the NLB (from the VPC) to the router port; the router to
 * model pods on the executor and model ports; every pod to cluster DNS; model pods to the Pod
 * Identity agent and to HTTPS on the interface endpoints' subnets only (S3 included, through its
 * interface endpoint): no other address in the VPC, nothing outside it.
 */
export function modelNetworkPolicies(options: ModelNetworkPolicyOptions): Record<string, unknown>[] {
  const metadata = (name: string) => ({
    name,
    namespace: MODEL_NAMESPACE,
    labels: { [MANAGED_BY_LABEL]: MANAGED_BY },
  });
  const policy = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: metadata(name),
    spec,
  });
  const router = { matchLabels: { 'app.kubernetes.io/name': ROUTER_NAME } };
  // The operator labels every pod of a SeldonDeployment with its id.
  const models = { matchExpressions: [{ key: 'seldon-deployment-id', operator: 'Exists' }] };
  const tcp = (port: number) => ({ protocol: 'TCP', port });
  const endpoints = options.endpointCidrs ?? [options.vpcCidr];
  if (endpoints.length === 0) {
    throw new Error('the model pods need at least one endpoint range to reach S3, but endpointCidrs was empty');
  }
  return [
    policy('default-deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
    policy('allow-dns', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        {
          to: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
              podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
            },
          ],
          ports: [{ protocol: 'UDP', port: 53 }, tcp(53)],
        },
      ],
    }),
    policy('router-from-load-balancer', {
      podSelector: router,
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ ipBlock: { cidr: options.vpcCidr } }], ports: [tcp(ROUTER_PORT)] }],
      egress: [{ to: [{ podSelector: models }], ports: [tcp(EXECUTOR_PORT), tcp(MODEL_PORT)] }],
    }),
    policy('models-from-router', {
      podSelector: models,
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ podSelector: router }], ports: [tcp(EXECUTOR_PORT), tcp(MODEL_PORT)] }],
      egress: [
        { to: [{ ipBlock: { cidr: POD_IDENTITY_AGENT_CIDR } }], ports: [tcp(80)] },
        { to: endpoints.map((cidr) => ({ ipBlock: { cidr } })), ports: [tcp(443)] },
      ],
    }),
  ];
}

/** The Seldon Core operator's namespace, created before its chart. */
export const seldonSystemNamespace = (): Record<string, unknown> => hardenedNamespace(SELDON_SYSTEM_NAMESPACE);
