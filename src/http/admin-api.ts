/**
 * The admin API's routes (JSON under /api/v1/, plus /health and /ready): list, show and disconnect
 * clients, list and delete sessions, list and delete retained messages, publish. Each handler reads
 * or changes the Broker through its public API. Documented with examples in docs/operations.md.
 */
import type { Broker } from '../broker/broker.js';
import type { BrokerConnection } from '../broker/context.js';
import { ReasonCode } from '../protocol/index.js';
import type { Session } from '../session/session.js';
import type { Message } from '../session/message.js';
import { pageRequest, selectPage, type PageRequest } from './listing.js';
import { HttpError, Router, type HttpResponse, type RouteContext } from './router.js';
import { parsePublishRequest } from './publish-request.js';

/** How long DELETE /api/v1/sessions/:id waits for a connected client's socket to close, in ms. */
const CLOSE_WAIT_MS = 2000;

/** A session as the API shows it. */
function sessionView(session: Session, connection: BrokerConnection | undefined): Record<string, unknown> {
  return {
    clientId: session.clientId,
    username: session.username ?? null,
    connected: connection !== undefined,
    protocolVersion: connection?.version ?? null,
    remoteAddress: connection?.peer.remoteAddress ?? null,
    keepAlive: connection?.link.keepAlive ?? null,
    sessionExpiryInterval: session.expiryInterval,
    subscriptions: [...session.subscriptions].map(([topicFilter, options]) => ({ topicFilter, qos: options.qos })),
    queued: session.queuedCount,
    inflight: session.inflightCount,
  };
}

/** A connected client as the API shows it (its session's view, or the connection's alone). */
function clientView(broker: Broker, connection: BrokerConnection): Record<string, unknown> {
  const session = connection.session ?? broker.sessions.get(connection.clientId);
  if (session !== undefined) return sessionView(session, connection);
  return {
    clientId: connection.clientId,
    username: connection.username ?? null,
    connected: true,
    protocolVersion: connection.version,
    remoteAddress: connection.peer.remoteAddress ?? null,
    keepAlive: connection.link.keepAlive,
    sessionExpiryInterval: null,
    subscriptions: [],
    queued: 0,
    inflight: 0,
  };
}

/** Whether the search `q` is a substring of the client id or the user name. */
function searched(q: string | undefined, clientId: string, username: string | undefined): boolean {
  return q === undefined || clientId.includes(q) || (username !== undefined && username.includes(q));
}

function page<V>(
  entries: Iterable<[string, V]>,
  request: PageRequest,
  matches: (key: string, value: V) => boolean,
  view: (value: V) => unknown,
): HttpResponse {
  const { items, nextCursor, total } = selectPage(entries, request, matches);
  return { status: 200, body: { items: items.map(([, value]) => view(value)), nextCursor, total } };
}

/** A retained message as the API shows it, its payload as UTF-8 text when it is, else base64. */
function retainedView(message: Message): Record<string, unknown> {
  const text = message.payload.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(message.payload);
  return {
    topic: message.topic,
    qos: message.qos,
    payload: isText ? text : message.payload.toString('base64'),
    encoding: isText ? 'utf8' : 'base64',
    bytes: message.payload.length,
    receivedAt: new Date(message.receivedAt).toISOString(),
  };
}

function notFound(what: string): HttpError {
  return new HttpError(404, 'not_found', what);
}

/** Waits until `connection`'s socket has closed, or CLOSE_WAIT_MS. */
function closed(connection: BrokerConnection): Promise<void> {
  if (connection.stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, CLOSE_WAIT_MS);
    connection.stream.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The routes of the admin API over `broker`. */
export function adminRoutes(broker: Broker, router: Router = new Router()): Router {
  router.add('GET', '/health', () => ({ status: 200, body: { status: 'ok' } }));
  router.add('GET', '/ready', () =>
    broker.accepting
      ? { status: 200, body: { status: 'ready' } }
      : { status: 503, body: { status: 'not ready', reason: 'the broker is not listening (starting or stopping)' } },
  );
  router.add('GET', '/api/v1/clients', ({ query }) => {
    const request = pageRequest(query);
    return page(
      broker.clients,
      request,
      (id, connection) => searched(request.q, id, connection.username),
      (connection) => clientView(broker, connection),
    );
  });
  router.add('GET', '/api/v1/clients/:id', ({ params }) => {
    const connection = broker.clients.get(params['id']!);
    if (connection === undefined) throw notFound(`no client ${JSON.stringify(params['id'])} is connected`);
    return { status: 200, body: clientView(broker, connection) };
  });
  router.add('DELETE', '/api/v1/clients/:id', async ({ params }) => {
    const connection = broker.clients.get(params['id']!);
    if (connection === undefined) throw notFound(`no client ${JSON.stringify(params['id'])} is connected`);
    // 5.0: DISCONNECT 0x98 Administrative action; 3.1.1 clients see the connection close.
    connection.close('disconnected by an administrator', ReasonCode.AdministrativeAction);
    await closed(connection);
    return { status: 200, body: { clientId: params['id'], disconnected: true } };
  });
  router.add('GET', '/api/v1/sessions', ({ query }) => {
    const request = pageRequest(query);
    return page(
      broker.sessions,
      request,
      (id, session) => searched(request.q, id, session.username),
      (session) => sessionView(session, broker.clients.get(session.clientId)),
    );
  });
  router.add('GET', '/api/v1/sessions/:id', ({ params }) => {
    const session = broker.sessions.get(params['id']!);
    if (session === undefined) throw notFound(`no session ${JSON.stringify(params['id'])}`);
    return { status: 200, body: sessionView(session, broker.clients.get(session.clientId)) };
  });
  router.add('DELETE', '/api/v1/sessions/:id', deleteSession(broker));
  router.add('GET', '/api/v1/retained', ({ query }) => {
    const request = pageRequest(query);
    return page(
      broker.retained.entries(),
      request,
      (topic) => request.q === undefined || topic.includes(request.q),
      retainedView,
    );
  });
  router.add('DELETE', '/api/v1/retained/*', ({ params }) => {
    const topic = params['*']!;
    if (!broker.retained.has(topic)) throw notFound(`no retained message on ${JSON.stringify(topic)}`);
    broker.forgetRetained(topic);
    return { status: 200, body: { topic, deleted: true } };
  });
  router.add('POST', '/api/v1/publish', ({ request }) => {
    const message = parsePublishRequest(request.body, broker.topicLimits, broker.options.maximumQoS);
    const deliveries = broker.publish(message);
    return { status: 200, body: { topic: message.topic, deliveries } };
  });
  return router;
}

/** DELETE /api/v1/sessions/:id: disconnects its client (0x98) if connected, then ends the session. */
function deleteSession(broker: Broker): (context: RouteContext) => Promise<HttpResponse> {
  return async ({ params }) => {
    const id = params['id']!;
    const session = broker.sessions.get(id);
    if (session === undefined) throw notFound(`no session ${JSON.stringify(id)}`);
    const connection = broker.clients.get(id);
    if (connection !== undefined) {
      connection.close('session deleted by an administrator', ReasonCode.AdministrativeAction);
      await closed(connection);
    }
    // A clean session ended with its connection; a persistent one is offline now, and ends here.
    if (broker.sessions.get(id) === session && !session.online) broker.endSession(session);
    const gone = broker.sessions.get(id) !== session;
    if (!gone) throw new HttpError(409, 'conflict', `session ${JSON.stringify(id)} was resumed before it could end`);
    return { status: 200, body: { clientId: id, deleted: true } };
  };
}
