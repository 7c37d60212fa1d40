/** The command modules the `mlops` CLI registers, in the order `--help` lists them. */
import type { CommandModule } from './program';
import { serveCommands } from './serve';
import { trainCommands } from './train';

export const commandModules: CommandModule[] = [trainCommands, serveCommands];
