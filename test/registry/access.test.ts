/**
 * The registry's access levels (lib/registry/access.ts), which the stacks turn into IAM grants per
 * method and path, and the production guard of the handler: a move into Production (or of the
 * champion alias) by anyone but the release machine's role is refused with MLflow's
 * PERMISSION_DENIED (403), through the real handler over dynalite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ACCESS_ROUTES,
  accessOf,
  callerIsOneOf,
  MLFLOW_ENDPOINTS,
  REGISTRY_ACCESS_LEVELS,
  type RegistryAccess,
} from '../../lib/registry';
import { routeMatches } from '../../lib/registry/access';
import { apiEvent, type Handler, harness, type Harness, type LocalDynamo, startDynamo } from './support';

const RELEASE_ROLE = 'arn:aws:iam::123456789012:role/mlops-production-release-promoter';
const RELEASE_SESSION = 'arn:aws:sts::123456789012:assumed-role/mlops-production-release-promoter/mlops-production-Release-fn';
const SCIENTIST_SESSION = 'arn:aws:sts::123456789012:assumed-role/mlops-production-Registry-DataScientistRole-AbC/alice';

/** The levels whose IAM patterns admit `method endpoint`. */
const levelsAdmitting = (method: string, endpoint: string): RegistryAccess[] =>
  REGISTRY_ACCESS_LEVELS.filter((level) =>
    ACCESS_ROUTES[level].some((r) => r.method === method && routeMatches(r.path, endpoint)),
  );

describe('registry access levels', () => {
  const served = Object.entries(MLFLOW_ENDPOINTS).flatMap(([endpoint, methods]) => methods.map((method) => ({ method, endpoint })));

  it("every served endpoint is admitted by its own level's IAM patterns, and by no other level's unless it only reads", () => {
    expect(served.length).toBeGreaterThan(40);
    const wrong = served
      .map(({ method, endpoint }) => ({ route: `${method} ${endpoint}`, level: accessOf(method, endpoint), admitted: levelsAdmitting(method, endpoint) }))
      // `write`'s `POST runs/*` also admits `runs/search`, a read: harmless, IAM cannot subtract it.
      .filter((r) => !r.admitted.includes(r.level) || (r.level !== 'read' && r.admitted.length !== 1));
    expect(wrong).toEqual([]);
  });

  it('reads are GETs and the searches MLflow sends as POST; promotions are stage and alias moves', () => {
    expect(accessOf('GET', '/mlflow/registered-models/alias')).toBe('read');
    expect(accessOf('POST', '/mlflow/runs/search')).toBe('read');
    expect(accessOf('POST', '/mlflow/registered-models/get-latest-versions')).toBe('read');
    expect(accessOf('POST', '/mlflow/runs/log-batch')).toBe('write');
    expect(accessOf('DELETE', '/mlflow/registered-models/delete')).toBe('write');
    expect(accessOf('POST', '/mlflow/model-versions/transition-stage')).toBe('promote');
    expect(accessOf('POST', '/mlflow/registered-models/alias')).toBe('promote');
    expect(accessOf('DELETE', '/mlflow/registered-models/alias')).toBe('promote');
  });

  it('fails if a read pattern admits a write or promotion (DELETE, or a POST that is not a search)', () => {
    for (const r of ACCESS_ROUTES.read) {
      expect(r.method === 'GET' || (r.method === 'POST' && !r.path.includes('*')), `${r.method} ${r.path}`).toBe(true);
    }
    expect(levelsAdmitting('DELETE', '/mlflow/model-versions/delete')).toEqual(['write']);
    expect(levelsAdmitting('POST', '/mlflow/model-versions/transition-stage')).toEqual(['promote']);
  });

  it('a role session is the role, whatever the session name; another role is not', () => {
    expect(callerIsOneOf(RELEASE_SESSION, [RELEASE_ROLE])).toBe(true);
    expect(callerIsOneOf(RELEASE_ROLE, [RELEASE_ROLE])).toBe(true);
    expect(callerIsOneOf(SCIENTIST_SESSION, [RELEASE_ROLE])).toBe(false);
    expect(callerIsOneOf('arn:aws:sts::999999999999:assumed-role/mlops-production-release-promoter/x', [RELEASE_ROLE])).toBe(false);
    expect(callerIsOneOf(undefined, [RELEASE_ROLE])).toBe(false);
  });
});

describe('production guard (handler)', () => {
  let dynamo: LocalDynamo;
  let h: Harness;
  let guarded: Handler;

  beforeAll(async () => {
    dynamo = await startDynamo();
    h = await harness(dynamo);
    // The handler module validates its environment on import, which harness() has just set.
    const { createHandler } = await import('../../lambdas/registry');
    guarded = createHandler({ ...h.services, productionGuard: { principals: [RELEASE_ROLE] } });
  });
  afterAll(async () => {
    await dynamo?.stop();
  });

  /** A request as API Gateway delivers it after IAM authorization of `caller`. */
  const as = async (caller: string | null, method: string, endpoint: string, json?: unknown) => {
    const event = apiEvent(method, `/api/2.0/mlflow/${endpoint}`, json === undefined ? {} : { json });
    (event.requestContext.identity as { userArn: string | null }).userArn = caller;
    const result = await guarded(event);
    return { status: result.statusCode, body: JSON.parse(result.body) };
  };

  it('refuses Production and the champion alias to a data scientist with PERMISSION_DENIED, and lets the release role', async () => {
    // prepare
    const name = 'guarded-model';
    expect((await as(SCIENTIST_SESSION, 'POST', 'registered-models/create', { name })).status).toBe(200);
    expect((await as(SCIENTIST_SESSION, 'POST', 'model-versions/create', { name, source: 's3://a/1' })).status).toBe(200);

    // act
    const toProduction = await as(SCIENTIST_SESSION, 'POST', 'model-versions/transition-stage', { name, version: '1', stage: 'production' });
    const champion = await as(SCIENTIST_SESSION, 'POST', 'registered-models/alias', { name, alias: 'champion', version: '1' });
    const anonymous = await as(null, 'POST', 'model-versions/transition-stage', { name, version: '1', stage: 'Production' });
    const toStaging = await as(SCIENTIST_SESSION, 'POST', 'model-versions/transition-stage', { name, version: '1', stage: 'Staging' });
    const otherAlias = await as(SCIENTIST_SESSION, 'POST', 'registered-models/alias', { name, alias: 'candidate', version: '1' });
    const byRelease = await as(RELEASE_SESSION, 'POST', 'model-versions/transition-stage', { name, version: '1', stage: 'Production' });

    // assess
    expect(toProduction.status).toBe(403);
    expect(toProduction.body.error_code).toBe('PERMISSION_DENIED');
    expect(toProduction.body.message).toContain(RELEASE_ROLE);
    expect(toProduction.body.message).toContain(SCIENTIST_SESSION);
    expect(champion).toMatchObject({ status: 403, body: { error_code: 'PERMISSION_DENIED' } });
    expect(anonymous).toMatchObject({ status: 403, body: { error_code: 'PERMISSION_DENIED' } });
    expect(toStaging.status).toBe(200);
    expect(otherAlias.status).toBe(200);
    expect(byRelease.status).toBe(200);
    expect(byRelease.body.model_version.current_stage).toBe('Production');
    // Nothing half-written: the refused calls changed nothing; only the release's event went out.
    const aliases = await h.handler(apiEvent('GET', '/api/2.0/mlflow/registered-models/get', { query: { name } }));
    expect(JSON.parse(aliases.body).registered_model.aliases ?? []).toEqual([{ alias: 'candidate', version: '1' }]);
    expect(h.events.published.filter((e) => e.stage === 'Production')).toHaveLength(1);
  });

  it('without a guard (local, staging) anyone the API lets in may promote, as before', async () => {
    const name = 'open-model';
    await h.handler(apiEvent('POST', '/api/2.0/mlflow/registered-models/create', { json: { name } }));
    await h.handler(apiEvent('POST', '/api/2.0/mlflow/model-versions/create', { json: { name, source: 's3://a/1' } }));
    const res = await h.handler(apiEvent('POST', '/api/2.0/mlflow/model-versions/transition-stage', { json: { name, version: '1', stage: 'Production' } }));
    expect(res.statusCode).toBe(200);
  });
});
