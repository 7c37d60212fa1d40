/**
 * The benchmark's child processes, one role each so the load generator never shares an event loop
 * with what it measures:
 *
 *   child.ts dynalite           dynalite with the online table; prints `ready <endpoint>`
 *   child.ts server <bundle>    the feature server bundle behind a bare HTTP → API Gateway proxy
 *                               event adapter; env ONLINE_TABLE_NAME etc.; prints `ready <url>`
 */
import type { IncomingMessage } from 'node:http';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { ONLINE_TABLE_SPEC } from '../../lib/features/definitions';
import { dynalite, runRole, serveBundle } from '../lib/child-harness';

/** The proxy event the feature server reads: method, path, headers and body. */
function proxyEvent(req: IncomingMessage, body: string) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  return {
    httpMethod: req.method,
    path: url.pathname,
    resource: url.pathname,
    headers: req.headers,
    queryStringParameters: null,
    body,
    isBase64Encoded: false,
    requestContext: { stage: 'v1' },
  };
}

await runRole(
  {
    dynalite: () =>
      dynalite((client) =>
        client.send(
          new CreateTableCommand({
            TableName: process.env['ONLINE_TABLE_NAME'],
            KeySchema: [{ AttributeName: ONLINE_TABLE_SPEC.partitionKey.name, KeyType: 'HASH' }],
            AttributeDefinitions: [
              {
                AttributeName: ONLINE_TABLE_SPEC.partitionKey.name,
                AttributeType: ONLINE_TABLE_SPEC.partitionKey.type,
              },
            ],
            BillingMode: ONLINE_TABLE_SPEC.billingMode,
          }),
        ),
      ),
    server: (bundle) => serveBundle(bundle, proxyEvent),
  },
  'usage: child.ts dynalite | server <bundle.mjs>',
);
