/** The local DynamoDB engine: dynalite with durable LevelDB storage, tables from the template. */
export {
  type DynamoDbEngine,
  DynamoDbStoreError,
  type DynamoDbOptions,
  type EnsuredTable,
  startDynamoDb,
  TableSchemaMismatchError,
} from './engine';
export {
  type Resolve,
  TABLE_TYPES,
  type TableSpec,
  type TemplateResource,
  tableSpecFromResource,
  tableSpecsFromTemplate,
} from './tables';
