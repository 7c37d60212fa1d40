/** The local API Gateway: REST API routes from the template, Lambda proxy integration, one server. */
export { type ApiRoute, type RestApiRoutes, type RouteIntegration, routesFromTemplate } from './routes';
export {
  type ApiGateway,
  type ApiGatewayOptions,
  type InvokeOutcome,
  type Invoker,
  MAX_PAYLOAD_BYTES,
  type MountOptions,
  proxyResponse,
  startApiGateway,
} from './server';
