#!/usr/bin/env node
// Launcher for the `mlops` CLI: registers tsx so the TypeScript sources run as they are, with no
// build step between a clone and `npm start`.
import { register } from 'tsx/esm/api';

register();
await import('./mlops.ts');
