/**
 * Correctness under concurrency and retries, through the real handler on dynalite: version numbers,
 * racing read-modify-writes on the model head, and idempotent registration.
 */
import { describe, expect, it } from 'vitest';
import { call, registryPerFile } from './support';

const api = registryPerFile();

const createModel = async (name: string) => {
  const res = await call(api.h.handler, 'POST', 'registered-models/create', { json: { name } });
  expect(res.status).toBe(200);
};

const createVersion = (name: string, runId = 'run-1', headers: Record<string, string> = {}) =>
  call(api.h.handler, 'POST', 'model-versions/create', {
    json: { name, source: `s3://artifacts/${name}/model`, run_id: runId },
    headers,
  });

const stagesOf = async (name: string): Promise<Record<string, string>> => {
  const res = await call(api.h.handler, 'GET', 'model-versions/search', { query: { filter: `name='${name}'` } });
  return Object.fromEntries(
    res.body.model_versions.map((v: { version: string; current_stage: string }) => [
      v.version,
      v.current_stage,
    ]),
  );
};

describe('version numbering', () => {
  it.each([1, 2, 3])('gives 50 parallel creates exactly 1..50 (round %i)', async (round) => {
    // prepare
    const name = `parallel-${round}`;
    await createModel(name);
    // act
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => createVersion(name, `run-${i}`)));
    // assess: every create succeeded, numbers are 1..50 with no duplicate, and storage agrees
    expect(replies.map((r) => r.status)).toEqual(Array(50).fill(200));
    const numbers = replies.map((r) => Number(r.body.model_version.version)).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    const stored = Object.keys(await stagesOf(name))
      .map(Number)
      .sort((a, b) => a - b);
    expect(stored).toEqual(numbers);
  });

  it('never reuses the number of a deleted version', async () => {
    await createModel('no-reuse');
    await createVersion('no-reuse');
    await createVersion('no-reuse');
    await call(api.h.handler, 'DELETE', 'model-versions/delete', { json: { name: 'no-reuse', version: '2' } });
    const next = await createVersion('no-reuse');
    expect(next.body.model_version.version).toBe('3');
  });
});

describe('racing writers', () => {
  it('two archiving transitions to Production leave exactly one Production version', async () => {
    // prepare: v1..v3, v3 already in Production
    await createModel('race-stage');
    for (let i = 0; i < 3; i++) await createVersion('race-stage');
    await call(api.h.handler, 'POST', 'model-versions/transition-stage', {
      json: { name: 'race-stage', version: '3', stage: 'Production', archive_existing_versions: false },
    });
    // act: v1 and v2 race to Production, both archiving the holder
    const replies = await Promise.all(
      ['1', '2'].map((version) =>
        call(api.h.handler, 'POST', 'model-versions/transition-stage', {
          json: { name: 'race-stage', version, stage: 'Production', archive_existing_versions: true },
        }),
      ),
    );
    // assess: both succeeded; whichever ran second archived the first, and v3 is archived
    expect(replies.map((r) => r.status)).toEqual([200, 200]);
    const stages = await stagesOf('race-stage');
    expect(Object.values(stages).filter((s) => s === 'Production')).toHaveLength(1);
    expect(Object.values(stages).filter((s) => s === 'Archived')).toHaveLength(2);
    expect(stages['3']).toBe('Archived');
  });

  it('concurrent alias moves, stage moves and description edits all land', async () => {
    // prepare
    await createModel('race-mixed');
    for (let i = 0; i < 4; i++) await createVersion('race-mixed');
    // act: writers touching different facts of the same model head at the same time
    const replies = await Promise.all([
      call(api.h.handler, 'POST', 'registered-models/alias', {
        json: { name: 'race-mixed', alias: 'a1', version: '1' },
      }),
      call(api.h.handler, 'POST', 'registered-models/alias', {
        json: { name: 'race-mixed', alias: 'a2', version: '2' },
      }),
      call(api.h.handler, 'POST', 'registered-models/alias', {
        json: { name: 'race-mixed', alias: 'a3', version: '3' },
      }),
      call(api.h.handler, 'POST', 'model-versions/transition-stage', {
        json: { name: 'race-mixed', version: '4', stage: 'Staging', archive_existing_versions: false },
      }),
      call(api.h.handler, 'POST', 'model-versions/transition-stage', {
        json: { name: 'race-mixed', version: '3', stage: 'Production', archive_existing_versions: false },
      }),
      call(api.h.handler, 'PATCH', 'registered-models/update', {
        json: { name: 'race-mixed', description: 'kept' },
      }),
      call(api.h.handler, 'POST', 'registered-models/set-tag', {
        json: { name: 'race-mixed', key: 'k1', value: 'v1' },
      }),
      call(api.h.handler, 'POST', 'registered-models/set-tag', {
        json: { name: 'race-mixed', key: 'k2', value: 'v2' },
      }),
    ]);
    // assess: no writer's change was lost
    expect(replies.map((r) => r.status)).toEqual(Array(8).fill(200));
    const model = (await call(api.h.handler, 'GET', 'registered-models/get', { query: { name: 'race-mixed' } }))
      .body.registered_model;
    expect(model.aliases).toEqual([
      { alias: 'a1', version: '1' },
      { alias: 'a2', version: '2' },
      { alias: 'a3', version: '3' },
    ]);
    expect(model.description).toBe('kept');
    expect(model.tags).toEqual([
      { key: 'k1', value: 'v1' },
      { key: 'k2', value: 'v2' },
    ]);
    expect(await stagesOf('race-mixed')).toEqual({
      '1': 'None',
      '2': 'None',
      '3': 'Production',
      '4': 'Staging',
    });
  });

  it('an alias set racing the deletion of its version never points at a deleted version', async () => {
    for (let round = 0; round < 5; round++) {
      // prepare
      const name = `race-delete-${round}`;
      await createModel(name);
      await createVersion(name);
      await createVersion(name);
      // act
      await Promise.all([
        call(api.h.handler, 'POST', 'registered-models/alias', {
          json: { name, alias: 'champion', version: '1' },
        }),
        call(api.h.handler, 'DELETE', 'model-versions/delete', { json: { name, version: '1' } }),
      ]);
      // assess: either the alias was set before the delete (and removed with it) or refused after it
      const byAlias = await call(api.h.handler, 'GET', 'registered-models/alias', {
        query: { name, alias: 'champion' },
      });
      expect(byAlias.status).toBe(400);
      expect(byAlias.body.message).toBe('Registered model alias champion not found.');
    }
  });

  it('a racing rename and version create keep the version under the renamed model', async () => {
    await createModel('race-rename');
    const [created, renamed] = await Promise.all([
      createVersion('race-rename'),
      call(api.h.handler, 'POST', 'registered-models/rename', {
        json: { name: 'race-rename', new_name: 'race-renamed' },
      }),
    ]);
    expect(renamed.status).toBe(200);
    if (created.status === 200) {
      const moved = await call(api.h.handler, 'GET', 'model-versions/get', {
        query: { name: 'race-renamed', version: created.body.model_version.version },
      });
      expect(moved.status).toBe(200);
    } else {
      // The create resolved the old name after the rename: MLflow's "not found" for that name.
      expect(created.status).toBe(404);
    }
  });
});

describe('idempotent registration (pipeline retries)', () => {
  const idempotent = { 'X-Mlops-Idempotent': 'true' };

  it('returns the first version when the same run and source are registered again', async () => {
    // prepare
    await createModel('retry-seq');
    const first = await createVersion('retry-seq', 'run-a', idempotent);
    // act
    const retry = await createVersion('retry-seq', 'run-a', idempotent);
    // assess
    expect(first.status).toBe(200);
    expect(retry.status).toBe(200);
    expect(retry.body.model_version).toEqual(first.body.model_version);
    expect(Object.keys(await stagesOf('retry-seq'))).toEqual(['1']);
  });

  it('yields one version when the retry runs concurrently with the original', async () => {
    await createModel('retry-par');
    const replies = await Promise.all(
      Array.from({ length: 5 }, () => createVersion('retry-par', 'run-b', idempotent)),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(5).fill(200));
    expect(new Set(replies.map((r) => r.body.model_version.version))).toEqual(new Set(['1']));
    expect(Object.keys(await stagesOf('retry-par'))).toEqual(['1']);
  });

  it('still creates a new version for another run or source', async () => {
    await createModel('retry-other');
    const a = await createVersion('retry-other', 'run-a', idempotent);
    const b = await createVersion('retry-other', 'run-b', idempotent);
    expect([a.body.model_version.version, b.body.model_version.version]).toEqual(['1', '2']);
  });

  it('keeps MLflow semantics without the header: each call is a new version', async () => {
    await createModel('retry-plain');
    const a = await createVersion('retry-plain', 'run-a');
    const b = await createVersion('retry-plain', 'run-a');
    expect([a.body.model_version.version, b.body.model_version.version]).toEqual(['1', '2']);
  });

  it('registers anew once the first registration was deleted', async () => {
    await createModel('retry-deleted');
    await createVersion('retry-deleted', 'run-a', idempotent);
    await call(api.h.handler, 'DELETE', 'model-versions/delete', {
      json: { name: 'retry-deleted', version: '1' },
    });
    const again = await createVersion('retry-deleted', 'run-a', idempotent);
    expect(again.status).toBe(200);
    expect(again.body.model_version.version).toBe('2');
  });
});
