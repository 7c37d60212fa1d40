/**
 * The console's browser test harness: a local platform started as a user starts it
 * (`node bin/mlops.mjs up --port 0`, a fresh state dir), Debian's Chromium driven by
 * playwright-core (no browser download), and per page: console errors, failed requests, axe-core's
 * violations and a screenshot under `test-output/console/` (git-ignored).
 *
 * @example
 * const platform = await startConsolePlatform({ startup: false });
 * const browser = await launchBrowser();
 * const page = await openConsole(browser, platform, '#/pipelines');
 * expect(page.problems()).toEqual([]);
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { PROJECT_ROOT } from '../../lib/constructs/bundling';
import { startUp, type UpProcess } from '../local/mlops-process';
import { copyTrainedState } from '../local/trained-state';

/** Where screenshots go (git-ignored). */
export const OUTPUT_DIR = join(PROJECT_ROOT, 'test-output', 'console');

/** Debian's package; `.ci/run` installs it when missing. `MLOPS_CHROMIUM` points elsewhere. */
export const CHROMIUM = process.env['MLOPS_CHROMIUM'] ?? '/usr/bin/chromium';

/** The flags a quiet, offline, throwaway browser needs (no sandbox: CI runs as root). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const chromiumAvailable = () => existsSync(CHROMIUM);

export interface ConsolePlatform {
  /** `http://127.0.0.1:<port>/` as the banner prints it. */
  readonly consoleUrl: string;
  readonly gatewayUrl: string;
  readonly awsEndpoint: string;
  readonly stateDir: string;
  /** Everything `mlops up` printed so far. */
  output(): string;
  stop(): Promise<void>;
}

/** One Step Functions call on the platform's AWS endpoint, in the AWS JSON protocol the console speaks. */
export async function stepFunctions(platform: ConsolePlatform, operation: string, input: object = {}): Promise<any> {
  const res = await fetch(platform.awsEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': `AWSStepFunctions.${operation}` },
    body: JSON.stringify(input),
  });
  return res.json();
}

/**
 * Starts `mlops up` on random ports and resolves once its banner is printed: on a fresh state dir
 * with `startup: false`, else on a copy of the run's first start (seeded, trained, serving; see
 * test/local/trained-state.ts), where the start-up finds everything present.
 */
export async function startConsolePlatform(options: { startup?: boolean; timeoutMs?: number } = {}): Promise<ConsolePlatform> {
  const stateDir = mkdtempSync(join(tmpdir(), 'mlops-console-'));
  const removeState = () => rmSync(stateDir, { recursive: true, force: true });
  let up: UpProcess;
  try {
    if (options.startup !== false) await copyTrainedState(stateDir);
    up = await startUp(stateDir, options.startup === false ? ['--no-startup'] : [], { timeoutMs: options.timeoutMs });
  } catch (err) {
    removeState();
    throw err;
  }
  const stop = async () => {
    await up.stop();
    removeState();
  };
  const consoleUrl = up.url('console');
  if (!consoleUrl) {
    await stop();
    throw new Error(`the banner names no console:\n${up.output()}`);
  }
  return { consoleUrl, gatewayUrl: up.url('gateway')!, awsEndpoint: up.url('AWS endpoint')!, stateDir, output: up.output, stop };
}

export interface Browser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** Chromium with a fresh profile directory (removed on close). */
export async function launchBrowser(): Promise<Browser> {
  if (!chromiumAvailable()) {
    throw new Error(`Chromium must be installed at ${CHROMIUM} (apt-get install -y chromium; .ci/run does), but it was not found`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'mlops-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface ConsolePage {
  readonly page: Page;
  /** Console errors, page errors and failed or 4xx/5xx requests since the page opened (or since `reset`). */
  problems(): string[];
  /** Forgets the problems seen so far (before an action that is meant to be refused). */
  reset(): void;
  /** axe-core's serious and critical violations on the page as it is now. */
  accessibility(): Promise<string[]>;
  /** Writes `test-output/console/<name>.png`; resolves to its path. */
  screenshot(name: string, options?: { fullPage?: boolean }): Promise<string>;
}

/** Opens `<console>/<hash>` in a new tab, recording what goes wrong, and waits for the page's `<h1>`. */
export async function openConsole(browser: Browser, platform: ConsolePlatform, hash = ''): Promise<ConsolePage> {
  const page = await browser.context.newPage();
  let problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.method()} ${r.url()} (${r.failure()?.errorText})`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  // Only loopback: anything else would be a CDN or a leak.
  await page.route(/^(?!https?:\/\/127\.0\.0\.1[:/]|data:|blob:)/, (r) => {
    problems.push(`request off loopback: ${r.request().url()}`);
    return r.abort();
  });
  await page.goto(`${platform.consoleUrl}${hash}`);
  await page.locator('main h1').first().waitFor();
  return {
    page,
    problems: () => [...problems],
    reset: () => {
      problems = [];
    },
    accessibility: () => axeViolations(page),
    async screenshot(name, options = {}) {
      mkdirSync(OUTPUT_DIR, { recursive: true });
      const path = join(OUTPUT_DIR, `${name}.png`);
      await page.screenshot({ path, fullPage: options.fullPage ?? true });
      return path;
    },
  };
}

const require = createRequire(import.meta.url);
let axeSource: string | undefined;

/** Runs axe-core (from node_modules) in the page; the serious and critical violations, one line each. */
export async function axeViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, which the page's Content-Security-Policy (no inline
  // scripts) does not govern; a <script> tag would be refused.
  // Once per document: a scan after an in-page change (a dialog, a narrower viewport) reuses the
  // engine instead of parsing its half megabyte again.
  if (!(await page.evaluate(() => 'axe' in globalThis))) {
    axeSource ??= readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
    await page.evaluate(`${axeSource}\n;void 0`);
  }
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    const result = await axe.run((globalThis as unknown as { document: unknown }).document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => JSON.stringify(n.target)) }));
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.targets.slice(0, 5).join(', ')})`);
}
