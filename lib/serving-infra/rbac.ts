/**
 * What the serving deployer may do in the cluster: a Role in the model namespace allowing exactly
 * the calls the deployer makes (SeldonDeployments and the route shards' ConfigMaps),
 * bound to the Kubernetes group its IAM role's access entry maps to. Applied by `ServingDeployer`.
 *
 * @example
 * cluster.addManifest('DeployerRbac', ...deployerRbac());
 */
import { ALL_ROUTE_SHARDS } from './route-shards';
import { ROUTER_ROUTES_CONFIGMAP, routesConfigMapName } from './router';
import { MANAGED_BY, MANAGED_BY_LABEL, MODEL_NAMESPACE } from './seldon';

/** The Kubernetes group the deployer's IAM role is mapped to; a Role in the model namespace binds it. */
export const DEPLOYER_GROUP = 'mlops-kit:serving-deployer';

/** The deployer's Role (only what it calls) and the binding of its access-entry group to it. */
export function deployerRbac(): Record<string, unknown>[] {
  const metadata = {
    name: 'mlops-serving-deployer',
    namespace: MODEL_NAMESPACE,
    labels: { [MANAGED_BY_LABEL]: MANAGED_BY },
  };
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata,
      rules: [
        {
          apiGroups: ['machinelearning.seldon.io'],
          resources: ['seldondeployments'],
          verbs: ['get', 'list', 'create', 'update'],
        },
        // create cannot be limited by name in RBAC; get and update can.
        { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
        {
          apiGroups: [''],
          resources: ['configmaps'],
          resourceNames: [ROUTER_ROUTES_CONFIGMAP, ...ALL_ROUTE_SHARDS.map(routesConfigMapName)],
          verbs: ['get', 'update'],
        },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'mlops-serving-deployer' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: DEPLOYER_GROUP }],
    },
  ];
}
