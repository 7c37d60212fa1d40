/**
 * Every command the kit writes is one a user can run: each `CommandModule` exported under
 * `lib/cli/` is registered in `commandModules` (`mlops render` once existed and answered "unknown
 * command"), and every command the README's CLI table documents is listed by the real binary's
 * `--help`.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Command } from 'commander';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { commandModules } from '../../lib/cli/modules';
import { buildProgram, type CommandModule } from '../../lib/cli/program';

const root = join(import.meta.dirname, '..', '..');
const cliDir = join(root, 'lib', 'cli');

const sourceFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sourceFiles(join(dir, e.name))
      : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')
        ? [join(dir, e.name)]
        : [],
  );

/**
 * The exports under lib/cli whose type is assignable to `CommandModule`, found by the type checker:
 * calling every exported function with a program to see what it registers would also call
 * `runUp`, which starts the platform. A function whose first parameter is a Command (or narrower)
 * and that fits `CommandModule` counts.
 */
function exportedCommandModules(): { file: string; name: string }[] {
  const files = sourceFiles(cliDir);
  const config = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  const program = ts.createProgram(files, options);
  const checker = program.getTypeChecker();
  const programTs = program.getSourceFile(join(cliDir, 'program.ts'))!;
  const alias = checker
    .getExportsOfModule(checker.getSymbolAtLocation(programTs)!)
    .find((s) => s.name === 'CommandModule');
  if (!alias) throw new Error('lib/cli/program.ts no longer exports CommandModule');
  const commandModuleType = checker.getDeclaredTypeOfSymbol(alias);
  // A helper such as `(err: unknown) => string | undefined` is assignable to CommandModule too; a
  // command module's parameter is a Command, so the parameter must be no wider than that.
  const parameterType = (sig: ts.Signature) => {
    const first = sig.getParameters()[0];
    return first && checker.getTypeOfSymbolAtLocation(first, first.valueDeclaration ?? programTs);
  };
  const commandType = parameterType(commandModuleType.getCallSignatures()[0]!)!;

  return files.flatMap((file) => {
    const source = program.getSourceFile(file)!;
    const moduleSymbol = checker.getSymbolAtLocation(source);
    if (!moduleSymbol) return [];
    return checker
      .getExportsOfModule(moduleSymbol)
      .filter((s) => s.flags & ts.SymbolFlags.Value)
      .filter((s) => {
        const type = checker.getTypeOfSymbolAtLocation(s, source);
        const [signature] = type.getCallSignatures();
        const parameter = signature && parameterType(signature);
        return (
          parameter !== undefined &&
          checker.isTypeAssignableTo(type, commandModuleType) &&
          checker.isTypeAssignableTo(parameter, commandType)
        );
      })
      .map((s) => ({ file, name: s.name }));
  });
}

/** The names of the commands a module registers, on a program of its own. */
function commandsOf(module: CommandModule): string[] {
  const program = new Command('probe');
  module(program);
  return program.commands.map((c) => c.name());
}

describe('command modules under lib/cli', () => {
  let found: { file: string; name: string; module: CommandModule }[];
  beforeAll(async () => {
    found = await Promise.all(
      exportedCommandModules().map(async ({ file, name }) => ({
        file,
        name,
        module: (await import(file))[name] as CommandModule,
      })),
    );
  }, 120_000);

  it('finds the command modules the CLI is built from', () => {
    // Guards the finder itself: a finder that finds nothing would let every module go unregistered.
    expect(found.map((f) => f.name)).toEqual(expect.arrayContaining(['localCommands', 'renderCommands']));
  });

  it('registers every exported command module in commandModules', () => {
    const unregistered = found
      .filter((f) => !commandModules.includes(f.module))
      .map((f) => `${f.name} (${relative(root, f.file)})`);
    expect(unregistered, 'exported CommandModules missing from lib/cli/modules.ts').toEqual([]);
  });

  it("puts each module's commands into the program", () => {
    const program = buildProgram(commandModules).commands.map((c) => c.name());
    for (const { name, module } of found) {
      const commands = commandsOf(module);
      expect(commands.length, `${name} registers no command`).toBeGreaterThan(0);
      expect(program, name).toEqual(expect.arrayContaining(commands));
    }
  });
});

/** The commands named in the first column of the README's CLI table (`render seldon` is nested). */
function readmeCommands(): string[][] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('## The `mlops` CLI');
  expect(start, 'README has a "The `mlops` CLI" section').toBeGreaterThanOrEqual(0);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  return [...section.matchAll(/^\| `([^`]+)` \|/gm)].map((m) =>
    // `run <machine>` → run; options and arguments are not command names.
    m[1]!.split(/\s+/).filter((word) => /^[a-z][a-z-]*$/.test(word)),
  );
}

/** The command names a `--help` output lists under "Commands:". */
function helpCommands(args: string[]): string[] {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'mlops.mjs'), ...args, '--help'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  const commands = r.stdout.split(/^Commands:$/m)[1] ?? '';
  // Command lines are indented two spaces; wrapped descriptions are indented further.
  return [...commands.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!);
}

describe('the README CLI table', () => {
  const documented = readmeCommands();

  it('documents commands (the table is where this test reads it)', () => {
    expect(documented.length).toBeGreaterThanOrEqual(5);
    expect(documented).toContainEqual(['render', 'seldon']);
  });

  it('names only commands that `mlops --help` lists', { timeout: 120_000 }, () => {
    const parents = [...new Set(documented.map((path) => path.slice(0, -1).join(' ')))];
    const listed = new Map(parents.map((p) => [p, helpCommands(p === '' ? [] : p.split(' '))]));
    const missing = documented.filter((path) => !listed.get(path.slice(0, -1).join(' '))!.includes(path.at(-1)!));
    expect(missing.map((p) => p.join(' ')), 'README commands missing from --help').toEqual([]);
  });
});
