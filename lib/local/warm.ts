/**
 * `mlops warm`: builds, into the kit cache, what a machine's first `mlops up` would otherwise build
 * before it can serve: the CLI bundle (built by the launcher before any command runs), the handler
 * bundles and the local stage's assembly, the console, and the state machines' asl-validator
 * checks. It does this by bringing up a platform from a scratch state dir inside the kit cache,
 * without start-up pipelines, and closing it at once, so it builds exactly what `mlops up` builds
 * and keys it the same way (content hashes). The seeding and first training stay in the first
 * `mlops up`: they are the state dir's, not the machine's.
 *
 * npm runs it as the `prepare` step of `npm ci` / `npm install` in a clone, so the README's two
 * commands pay the builds once, at install. With the caches already warm it costs a start of the
 * engines and nothing is rebuilt.
 *
 * @example
 * const report = await warmLocalCaches(); // { assembly: 'synthesize', ms: 7012.4 }
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { kitCacheDir } from '../constructs/bundling';
import { buildConsole } from './console';
import { isSameProcessAlive } from './lock';
import { startPlatform } from './platform';
import { type LocalAssemblyPlan, planLocalAssembly, provideLocalAssembly } from './synth';

export interface WarmReport {
  /** What the local assembly took: `synthesize` (built now) or `cached` (already in the kit cache). */
  readonly assembly: LocalAssemblyPlan['action'];
  /** Whether the console's build is in the cache (false: the build failed; `mlops up` then runs without it). */
  readonly console: boolean;
  readonly ms: number;
}

export async function warmLocalCaches(onOutput: (chunk: Buffer) => void = () => {}): Promise<WarmReport> {
  const t0 = performance.now();
  removeDeadScratchDirs();
  const stateDir = join(kitCacheDir(), `${SCRATCH}${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(stateDir, { recursive: true });
  try {
    const plan = planLocalAssembly(stateDir);
    // As in `mlops up`: a console that fails to build leaves the platform without one, not failed.
    const consoleBuild = buildConsole().catch(() => undefined);
    const platform = await startPlatform({ stateDir, assemblyDir: provideLocalAssembly(plan, onOutput), console: consoleBuild });
    await platform.close();
    return { assembly: plan.action, console: (await consoleBuild) !== undefined, ms: performance.now() - t0 };
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

const SCRATCH = '.warm-';

/** Scratch state dirs of warms that were killed (their pid is gone): a killed warm never removes its own. */
function removeDeadScratchDirs(): void {
  let names: string[];
  try {
    names = readdirSync(kitCacheDir()).filter((n) => n.startsWith(SCRATCH));
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(name.slice(SCRATCH.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && !isSameProcessAlive(pid)) rmSync(join(kitCacheDir(), name), { recursive: true, force: true });
  }
}
