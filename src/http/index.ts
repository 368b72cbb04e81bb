/**
 * The HTTP listener of a Broker: Prometheus metrics, health checks and the admin API
 * (docs/operations.md). `fennec broker` starts one with the `http:` section or `--http-port`;
 * embedders use `new AdminServer(broker, options)`.
 */
export { AdminServer, type AdminServerOptions } from './server.js';
export { BrokerMetrics } from './metrics.js';
export {
  Router,
  HttpError,
  type HttpRequest,
  type HttpResponse,
  type RouteContext,
  type RouteHandler,
} from './router.js';
export { selectPage, pageRequest, MAX_PAGE, DEFAULT_PAGE, type Page, type PageRequest } from './listing.js';
