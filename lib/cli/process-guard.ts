/**
 * The last line of defence of a running `mlops up`: an exception that escapes every listener and
 * handler (a timer, an engine's callback) is logged, and the platform keeps serving instead of
 * exiting and taking every engine with it. Installed only once start-up has finished, so an error
 * during start-up still fails the start.
 *
 * @example
 * const uninstall = installProcessGuard((line) => process.stderr.write(`${line}\n`));
 * // … serve …
 * uninstall();
 */
export function installProcessGuard(log: (line: string) => void): () => void {
  const report = (what: string) => (err: unknown) => {
    log(
      `mlops up: ${what} was caught and logged; the platform keeps running:\n${(err as Error)?.stack ?? String(err)}`,
    );
  };
  const onException = report('an uncaught exception');
  const onRejection = report('an unhandled promise rejection');
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}
