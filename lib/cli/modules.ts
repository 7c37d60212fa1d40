/** The command modules the `mlops` CLI registers, in the order `--help` lists them. */
import type { CommandModule } from './program';

export const commandModules: CommandModule[] = [];
