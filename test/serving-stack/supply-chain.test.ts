/**
 * Issue 18, supply chain: Seldon Core must stay below 1.18 (1.17.1 is the last Apache-2.0 release;
 * 1.18 and later are BSL). The guard reads every version pin of Seldon Core in the repository's
 * tracked files and in the synthesized staging and production templates, so an upgrade anywhere
 * (the constant, a chart, an image, a vendored fixture) fails it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/constructs/mlops-function';
import { SELDON_CORE_VERSION } from '../../lib/constructs/model-cluster';
import { AWS_ENVIRONMENTS, synthServing } from './synth';

/** The first version under the Business Source License. */
const FIRST_BSL = [1, 18] as const;

/**
 * Seldon Core version pins in a text: `Seldon Core 1.17.1`, `seldon-core-1.17.1`, `seldon-core v1.17.1`,
 * `seldon-core-operator 1.17.1`, images `seldonio/seldon-core-executor:1.17.1`, and the kit's
 * `SELDON_CORE_VERSION = '1.17.1'`: full major.minor.patch versions, as charts, images and releases
 * are named, so prose about a release line ("1.18 or later is BSL") is not read as a pin. Not other
 * Seldon products (MLServer, mock images).
 */
export function seldonCoreVersionsIn(text: string): string[] {
  const patterns = [
    /seldon[-_ ]core(?:[-_][a-z0-9]+)*[-_ :]+v?(\d+\.\d+\.\d+)/gi,
    /SELDON_CORE_VERSION\s*=\s*['"]v?(\d+\.\d+\.\d+)['"]/g,
  ];
  return patterns.flatMap((re) => [...text.matchAll(re)].map((m) => m[1]!));
}

const isBsl = (version: string): boolean => {
  const [major, minor] = version.split('.').map(Number) as [number, number];
  return major > FIRST_BSL[0] || (major === FIRST_BSL[0] && minor >= FIRST_BSL[1]);
};

/** This file: its "recognizes a BSL pin" cases are the only BSL versions the repository may name. */
const THIS_FILE = 'test/serving-stack/supply-chain.test.ts';

/** Text files git tracks (no lockfile: package names there are not Seldon pins; not this file). */
function trackedTexts(): { path: string; text: string }[] {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: PROJECT_ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f !== '' && f !== 'package-lock.json' && f !== THIS_FILE && !/\.(png|jpg|gif|ico|woff2?|parquet|gz|zip)$/.test(f));
  return files.flatMap((path) => {
    try {
      return [{ path, text: readFileSync(join(PROJECT_ROOT, path), 'utf8') }];
    } catch {
      return []; // deleted in the work tree
    }
  });
}

describe('Seldon Core stays below 1.18 (BSL)', () => {
  it('pins the kit constant to an Apache-2.0 release', () => {
    expect(isBsl(SELDON_CORE_VERSION), SELDON_CORE_VERSION).toBe(false);
  });

  it('fails if any tracked file pins Seldon Core 1.18 or later', () => {
    const pins = trackedTexts().flatMap(({ path, text }) => seldonCoreVersionsIn(text).map((v) => ({ path, v })));
    // Not blind: the constant, the README, the vendored CRD and specs all name the version.
    expect(pins.length).toBeGreaterThan(5);
    expect(pins.filter((p) => isBsl(p.v)).map((p) => `${p.path}: ${p.v}`)).toEqual([]);
  });

  it.each(AWS_ENVIRONMENTS)('fails if the %s template installs a Seldon Core chart or image of 1.18 or later', (name) => {
    const { template } = synthServing()[name];
    const charts = Object.values(template.findResources('Custom::AWSCDK-EKS-HelmChart')).filter((c) =>
      String(c['Properties']['Chart']).startsWith('seldon-core'),
    );
    expect(charts).toHaveLength(1);
    for (const chart of charts) expect(isBsl(chart['Properties']['Version'])).toBe(false);
    const text = JSON.stringify(template.toJSON());
    expect(seldonCoreVersionsIn(text).filter(isBsl)).toEqual([]);
  });

  it.each([
    ["SELDON_CORE_VERSION = '1.18.0'", '1.18.0'],
    ['image: seldonio/seldon-core-executor:1.19.2', '1.19.2'],
    ['helm install seldon-core-operator 2.0.0', '2.0.0'],
    ['Seldon Core v1.18.1', '1.18.1'],
  ])('recognizes a BSL pin in %j', (text, version) => {
    expect(seldonCoreVersionsIn(text)).toEqual([version]);
    expect(isBsl(version)).toBe(true);
  });

  it('reads no Seldon Core pin from other Seldon products or from prose about the licence', () => {
    expect(seldonCoreVersionsIn('seldonio/mlserver:1.20.0 and seldonio/mock_classifier:1.0')).toEqual([]);
    expect(seldonCoreVersionsIn('Seldon Core 1.17.1 is the last Apache-2.0 release; 1.18+ is BSL')).toEqual(['1.17.1']);
    expect(seldonCoreVersionsIn('a test fails if Seldon Core 1.18 or later is pinned')).toEqual([]);
  });
});
