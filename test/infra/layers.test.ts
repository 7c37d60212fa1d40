/**
 * The import directions of ARCHITECTURE.md are enforced by ESLint (eslint.config.js, `layers()`)
 * in `npm test`. These cases lint a deliberate violation per layer through the project's own
 * config, so a rule that stopped matching (a renamed folder, a glob typo) fails here, not silently.
 */
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: new URL('../..', import.meta.url).pathname });

async function restrictedImports(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('import directions', () => {
  it.each([
    ['lib/registry/violation.ts', "import { App } from 'aws-cdk-lib';", /CDK code belongs/],
    ['lib/features/violation.ts', "import { S3Client } from '@aws-sdk/client-s3';", /adapter under lib\/adapters/],
    ['lib/serving/server.ts', "import { s3Client } from '../adapters/clients';", /adapters\//],
    ['lib/pipelines/violation.ts', "import type { Handler } from 'aws-lambda';", /handler under lambdas/],
    ['lib/serving/violation.ts', "import { Bucket } from 'aws-cdk-lib/aws-s3';", /CDK code belongs/],
    ['lib/model/violation.ts', "import { MlopsFunction } from '../constructs/mlops-function';", /constructs\//],
    ['lib/trainer/violation.ts', "import { Construct } from 'constructs';", /CDK code belongs/],
    ['lib/drift/violation.ts', "import { S3Client } from '@aws-sdk/client-s3';", /adapter under lib\/adapters/],
    ['lib/local/violation.ts', "import { createMlopsApp } from '../../stacks/mlops-app';", /stacks\//],
    ['lib/cli/violation.ts', "import { MlopsStage } from '../../stacks/mlops-stage';", /stacks\//],
    ['lib/constructs/violation.ts', "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';", /adapter/],
    ['lib/adapters/s3/violation.ts', "import { Stack } from 'aws-cdk-lib';", /CDK code belongs/],
    ['stacks/violation.ts', "import { handler } from '../lambdas/registry';", /lambdas\//],
    ['lambdas/violation.ts', "import { DataLake } from '../lib/constructs/data-lake';", /constructs\//],
    ['lib/console/pages/violation.tsx', "import { startPlatform } from '../../local/platform';", /only lib\/console/],
    ['lib/console/api/violation.ts', "import { readFileSync } from 'node:fs';", /browser/],
    ['lib/console/api/violation.ts', "import { SFNClient } from '@aws-sdk/client-sfn';", /adapter/],
    ['lib/console/violation.ts', "import { ApiError } from '../shared/errors';", /only lib\/console/],
    ['lib/console/logic/violation.ts', "import { parseEvent } from '../../shared/events';", /only lib\/console/],
  ])('%s: %s is refused', async (file, code, message) => {
    const messages = await restrictedImports(file, `${code}\nexport const x = 1;\n`);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(message);
  });

  it.each([
    ['lib/constructs/ok.ts', "import { Construct } from 'constructs';"],
    ['lib/adapters/s3/ok.ts', "import { S3Client } from '@aws-sdk/client-s3';"],
    ['lambdas/ok.ts', "import { S3Client } from '@aws-sdk/client-s3';"],
    ['stacks/ok.ts', "import { Stack } from 'aws-cdk-lib';"],
    ['lib/registry/ok.ts', "import { createHash } from 'node:crypto';"],
    // The model server's container entry is a composition root, like a handler.
    ['lib/serving/entry.ts', "import { s3Client } from '../adapters/clients';"],
    ['lib/console/pages/ok.tsx', "import { sfn } from '../api/sfn';"],
    ['lib/console/main.tsx', "import { App } from './app';"],
    // The platform's names as plain data: the console reads the same contract as the server.
    ['lib/console/logic/ok.ts', "import { VERSION_TAGS } from '../../shared/operations';"],
  ])('%s: %s is allowed', async (file, code) => {
    expect(await restrictedImports(file, `${code}\nexport const x = 1;\n`)).toEqual([]);
  });
});
