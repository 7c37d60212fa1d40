#!/usr/bin/env node
// The `mlops` bin npm links into node_modules/.bin: the launcher, bin/mlops.mjs. It is declared by
// this workspace and not by the root package.json because npx, given a command the root package
// itself declares, installs the project into its `_npx` cache on every call (test/cli/npx.test.ts).
import '../mlops.mjs';
