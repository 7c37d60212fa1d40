/**
 * The DynamoDB document client the adapters use, over the one client factory. Apart from
 * lib/adapters/clients.ts because `@aws-sdk/lib-dynamodb` cannot be tree-shaken: bundles that
 * build only an S3 client (the model server image) stay without DynamoDB.
 *
 * @example
 * const store = new DynamoDbOnlineStore({ client: dynamoDocumentClient(env), tableName });
 */
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type AwsEnv, type ClientOverrides, dynamoDbClient } from '../clients';

/** A document client that drops `undefined` attributes (optional fields are simply absent). */
export function dynamoDocumentClient(
  env: AwsEnv = process.env,
  overrides: ClientOverrides = {},
): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(dynamoDbClient(env, overrides), {
    marshallOptions: { removeUndefinedValues: true },
  });
}
