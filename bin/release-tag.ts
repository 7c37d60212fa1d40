/**
 * The release build's entry: finds the `release/<model>/<version>` tags at the checked-out commit
 * (or takes `--tag`), and runs `npx mlops release --model <m> --version <v> --from <from> --to <to>`
 * for each, in order, stopping at the first that fails. Several release tags on one commit release
 * each version; the release machine is idempotent, so a second execution for the same commit (one
 * per pushed tag) finds each version already released.
 *
 *   node --import tsx bin/release-tag.ts --from staging --to production
 *   node --import tsx bin/release-tag.ts --tag release/wine-quality/3 --dry-run
 *
 * Exit codes: 0 released (or printed, with --dry-run), 1 a release failed, 2 no or a malformed tag.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { ReleaseTagError, releaseCommand, releaseRefs } from '../lib/cli/release-tag';

function main(argv: string[]): number {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        tag: { type: 'string', multiple: true },
        from: { type: 'string', default: 'staging' },
        to: { type: 'string', default: 'production' },
        'dry-run': { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    process.stderr.write(`release-tag: ${(err as Error).message}\n`);
    return 2;
  }
  let tags = values.tag ?? [];
  if (tags.length === 0) {
    const git = spawnSync('git', ['tag', '--points-at', 'HEAD'], { encoding: 'utf8' });
    if (git.status !== 0) {
      process.stderr.write(`release-tag: cannot list the tags at HEAD (git: ${git.stderr.trim() || git.error?.message})\n`);
      return 2;
    }
    tags = git.stdout.split('\n').filter(Boolean);
  }
  let refs;
  try {
    refs = releaseRefs(tags);
  } catch (err) {
    if (!(err instanceof ReleaseTagError)) throw err;
    process.stderr.write(`release-tag: ${err.message}\n`);
    return 2;
  }
  if (refs.length === 0) {
    process.stderr.write(`release-tag: no release/<model>/<version> tag at this commit (tags: ${tags.join(', ') || 'none'})\n`);
    return 2;
  }
  for (const ref of refs) {
    const [cmd, ...args] = releaseCommand(ref, { from: values.from!, to: values.to! });
    process.stdout.write(`${ref.tag}: ${[cmd, ...args].join(' ')}\n`);
    if (values['dry-run']) continue;
    const run = spawnSync(cmd!, args, { stdio: 'inherit' });
    if (run.status !== 0) {
      process.stderr.write(`release-tag: ${ref.tag} failed (exit ${run.status ?? run.signal})\n`);
      return 1;
    }
  }
  return 0;
}

process.exitCode = main(process.argv.slice(2));
