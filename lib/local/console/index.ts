export { buildConsole, CONSOLE_FILES, consoleKey, type ConsoleBuildOptions } from './build';
export { type ConsoleEndpoints, consoleHandler } from './serve';
