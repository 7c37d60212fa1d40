/** The command modules the `mlops` CLI registers, in the order `--help` lists them. */
import { driftCommands } from './drift';
import { jobsCommands } from './jobs';
import type { CommandModule } from './program';
import { localCommands } from './local';
import { qualityCommands } from './quality';
import { releaseCommands } from './release';
import { renderCommands } from './render';
import { seedCommands } from './seed';
import { serveCommands } from './serve';
import { smokeCommands } from './smoke';
import { trainCommands } from './train';
import { warmCommands } from './warm';

export const commandModules: CommandModule[] = [localCommands, seedCommands, trainCommands, jobsCommands, serveCommands, renderCommands, smokeCommands, qualityCommands, releaseCommands, driftCommands, warmCommands];
