/**
 * Child process for the SIGKILL durability test: runs the engine on a state dir and writes items
 * as fast as it can, printing each acknowledged write's index, until the test kills it.
 * Usage: node --import tsx kill-writer.ts <resource JSON> <stateDir>
 */
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { startDynamoDb, type TemplateResource, tableSpecFromResource } from '../../../lib/local/dynamodb';

const resource = JSON.parse(process.argv[2]!) as TemplateResource;
const engine = await startDynamoDb({ stateDir: process.argv[3]! });
const [table] = await engine.ensureTables([tableSpecFromResource('Table', resource)]);
const db = new DynamoDBClient({
  endpoint: engine.endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
for (let i = 0; ; i++) {
  await db.send(
    new PutItemCommand({
      TableName: table!.tableName,
      Item: { pk: { S: 'p' }, sk: { S: String(i).padStart(6, '0') }, blob: { S: 'x'.repeat(2000) } },
    }),
  );
  process.stdout.write(`${i}\n`);
}
