/** A version's lineage, stage moves, MLflow's alias rules and report links, as data. */
import { describe, expect, it } from 'vitest';
import type { ModelVersion, Run } from '../../lib/console/api/mlflow-types';
import {
  aliasProblem,
  curatedBucket,
  driftReports,
  lineage,
  reportHref,
  stageTargets,
  xmlValues,
} from '../../lib/console/logic/models';
import { VERSION_TAGS } from '../../lib/shared/operations';

const version = (tags: Record<string, string>): ModelVersion => ({
  name: 'wine-quality',
  version: '3',
  creation_timestamp: 1,
  current_stage: 'Staging',
  run_id: 'run-1',
  tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
});
const run: Run = {
  info: { run_id: 'run-1', experiment_id: '7', status: 'FINISHED', lifecycle_stage: 'active' },
  data: {
    params: [{ key: 'feature_service', value: 'wine_quality_v1' }, { key: 'dataset', value: 'wine_labels' }],
    tags: [{ key: 'mlops.data_version', value: '{"wine_labels":"v1"}' }, { key: 'mlops.execution', value: 'startup-1' }],
  },
};

describe('lineage', () => {
  it('reads run, data version, feature service and execution from the run', () => {
    expect(lineage(version({}), run)).toEqual({
      runId: 'run-1',
      experimentId: '7',
      dataset: 'wine_labels',
      dataVersion: '{"wine_labels":"v1"}',
      featureService: 'wine_quality_v1',
      execution: 'startup-1',
    });
  });

  it("prefers the version's own tags and shows a released version's source", () => {
    const l = lineage(
      version({
        [VERSION_TAGS.dataVersion]: '{"wine_labels":"v9"}',
        [VERSION_TAGS.sourceEnvironment]: 'staging',
        [VERSION_TAGS.sourceVersion]: '4',
        [VERSION_TAGS.sourceRunId]: 'staging-run',
        [VERSION_TAGS.baselineUri]: 's3://artifacts/models/wine/baseline.json',
        [VERSION_TAGS.artifactSha256]: 'ab12',
      }),
      undefined,
    );
    expect(l).toEqual({
      runId: 'run-1',
      dataVersion: '{"wine_labels":"v9"}',
      source: { environment: 'staging', version: '4', runId: 'staging-run' },
      baselineUri: 's3://artifacts/models/wine/baseline.json',
      artifactSha256: 'ab12',
    });
  });
});

describe('stageTargets', () => {
  it('offers every other stage', () => {
    expect(stageTargets('Production')).toEqual(['None', 'Staging', 'Archived']);
  });
});

describe('aliasProblem', () => {
  it.each(['champion', 'challenger_2', 'blue-green'])('accepts %s', (alias) => {
    expect(aliasProblem(alias)).toBeUndefined();
  });
  it.each([
    ['', /must not be empty/],
    ['latest', /reserves/],
    ['Latest', /reserves/],
    ['v2', /must not look like a version/],
    ['with space', /only letters, digits/],
    ['x'.repeat(256), /at most 255 characters, but 256 were provided/],
  ])('refuses %j', (alias, message) => {
    expect(aliasProblem(alias)).toMatch(message);
  });
});

describe('reportHref', () => {
  it("maps s3:// onto the platform's S3 endpoint, path style, keys encoded", () => {
    expect(reportHref('s3://curated/drift/wine quality/r.html', 'http://127.0.0.1:8082/')).toBe(
      'http://127.0.0.1:8082/curated/drift/wine%20quality/r.html',
    );
  });
  it('keeps http(s) links and gives no link without an endpoint or for other schemes', () => {
    expect(reportHref('https://example.test/r.html', '')).toBe('https://example.test/r.html');
    expect(reportHref('s3://b/k', '')).toBeUndefined();
    expect(reportHref('file:///etc/passwd', 'http://127.0.0.1:1')).toBeUndefined();
  });
});

describe('driftReports', () => {
  it('keeps HTML and JSON reports, newest first', () => {
    expect(
      driftReports([
        'drift/wine/2026-12-01/e1/report.json',
        'drift/wine/2026-12-03/e2/report.html',
        'drift/wine/2026-12-03/e2/current.parquet',
      ]),
    ).toEqual([
      { key: 'drift/wine/2026-12-03/e2/report.html', kind: 'html' },
      { key: 'drift/wine/2026-12-01/e1/report.json', kind: 'json' },
    ]);
  });
});

describe('xmlValues', () => {
  it("reads every element's text from an S3 listing, entities decoded", () => {
    const xml =
      '<ListBucketResult><Name>b</Name><Contents><Key>drift/a&amp;b/r.html</Key></Contents>' +
      '<Contents><Key>drift/&#65;&#x42;/&lt;x&gt;.json</Key></Contents></ListBucketResult>';
    expect(xmlValues(xml, 'Key')).toEqual(['drift/a&b/r.html', 'drift/AB/<x>.json']);
    expect(xmlValues(xml, 'Name')).toEqual(['b']);
    expect(xmlValues('<R/>', 'Key')).toEqual([]);
  });
});

describe('curatedBucket', () => {
  it("finds the curated zone's bucket by the kit's naming", () => {
    expect(curatedBucket(['mlops-local-datalake-rawbucket1', 'mlops-local-datalake-curatedbucket2'])).toBe(
      'mlops-local-datalake-curatedbucket2',
    );
    expect(curatedBucket(['other'])).toBeUndefined();
  });
});
