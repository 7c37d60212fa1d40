/**
 * `mlops warm`: fills the kit cache with what a machine's first `mlops up` builds (the handler
 * bundles and local assembly, the console, the checked state machines; see lib/local/warm.ts), so
 * that first start only seeds, trains and serves. npm runs it after `npm ci` / `npm install` in a
 * clone (`prepare`); run it yourself after `mlops` caches were cleared, or to bake them into an image.
 *
 * @example
 *   npx mlops warm          # mlops warm: local assembly synthesized, console built (7.0 s)
 *   npx mlops warm --json   # {"assembly":"cached","console":true,"ms":1210.5}
 */
import { CliError, type CommandModule, EXIT } from './program';
import { jsonOption } from './local';

/** Longer than a cold warm takes on a loaded two-core machine (about 35 s). */
const WARM_LIMIT_S = 600;

export const warmCommands: CommandModule = (program) => {
  program
    .command('warm')
    .description("build what a machine's first `mlops up` builds into the kit cache (npm runs it after install)")
    .addOption(jsonOption())
    .addHelpText('after', '\nExamples:\n  npx mlops warm\n  MLOPS_CACHE_DIR=/ci/cache npx mlops warm --json\n')
    .action(async (opts: { json?: boolean }) => {
      const { warmLocalCaches } = await import('../local/warm');
      // npm waits for its prepare step: a warm that hangs (a platform that cannot come up here)
      // must end the install's wait, not block it.
      const watchdog = setTimeout(() => {
        process.stderr.write(`mlops: warm did not finish in ${WARM_LIMIT_S} s; the first mlops up builds what is missing\n`);
        process.exit(EXIT.failed);
      }, WARM_LIMIT_S * 1000);
      watchdog.unref();
      const output: Buffer[] = [];
      let report;
      try {
        report = await warmLocalCaches((chunk) => output.push(chunk));
      } catch (e) {
        const said = Buffer.concat(output).toString('utf8').trim();
        throw new CliError(`warm failed: ${(e as Error).message}${said ? `\n${said}` : ''}`, EXIT.failed);
      }
      clearTimeout(watchdog);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ ...report, ms: Math.round(report.ms * 10) / 10 })}\n`);
        return;
      }
      const assembly = report.assembly === 'synthesize' ? 'local assembly synthesized' : 'local assembly already cached';
      const built = report.console ? 'console ready' : 'console not built (mlops up runs without it)';
      process.stdout.write(`mlops warm: ${assembly}, ${built} (${(report.ms / 1000).toFixed(1)} s)\n`);
    });
};
