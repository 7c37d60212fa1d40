/**
 * bin/app.mjs (what cdk.json runs): the app compiled once and cached by the content of its sources.
 * A throwaway project holding the launcher, a two-module app and the kit's node_modules: an unchanged
 * app runs from the cache, a changed module is compiled again and runs as changed, and each module
 * keeps its own `import.meta.url`.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const kit = join(import.meta.dirname, '..', '..');
const project = mkdtempSync(join(tmpdir(), 'mlops-compiled-app-'));
afterAll(() => rmSync(project, { recursive: true, force: true }));

mkdirSync(join(project, 'bin'));
mkdirSync(join(project, 'lib'));
for (const f of ['app.mjs', 'compiled.mjs']) copyFileSync(join(kit, 'bin', f), join(project, 'bin', f));
for (const f of ['package.json', 'package-lock.json', 'tsconfig.json']) copyFileSync(join(kit, f), join(project, f));
symlinkSync(join(kit, 'node_modules'), join(project, 'node_modules'), 'dir');
writeFileSync(
  join(project, 'bin', 'app.ts'),
  "import { App } from 'aws-cdk-lib';\nimport { greeting, where } from '../lib/greeting';\nconsole.log(JSON.stringify({ greeting, where, app: typeof App, url: import.meta.url }));\n",
);
const setGreeting = (text: string) =>
  writeFileSync(join(project, 'lib', 'greeting.ts'), `export const greeting: string = ${JSON.stringify(text)};\nexport const where = import.meta.url;\n`);

const cache = join(project, 'cache');
function run() {
  const r = spawnSync(process.execPath, ['--enable-source-maps', join(project, 'bin', 'app.mjs')], {
    cwd: project,
    env: { ...process.env, MLOPS_CACHE_DIR: cache },
    encoding: 'utf8',
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { greeting: string; where: string; app: string; url: string };
}
const builds = () => readdirSync(join(cache, 'app')).filter((f) => /^[0-9a-f]{64}$/.test(f)).sort();

describe('the compiled app (bin/app.mjs)', () => {
  it('runs from the cache while its sources are unchanged and is compiled again when one changes', () => {
    setGreeting('hello');
    expect(run()).toEqual({
      greeting: 'hello',
      where: pathToFileURL(join(project, 'lib', 'greeting.ts')).href,
      app: 'function',
      url: pathToFileURL(join(project, 'bin', 'app.ts')).href,
    });
    const first = builds();
    expect(first).toHaveLength(1);

    expect(run().greeting).toBe('hello');
    expect(builds()).toEqual(first);

    setGreeting('changed');
    expect(run().greeting).toBe('changed');
    expect(builds()).toHaveLength(2);
    expect(builds()).toEqual(expect.arrayContaining(first));
  });
});
