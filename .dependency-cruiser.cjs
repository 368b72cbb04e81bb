// Import rules of src/, checked by `npm run lint` (dependency-cruiser): no cycles, and the layers of
// docs/architecture.md import one way: protocol/topic/session know nothing of sockets, stores or the
// broker; stores, transports, config and auth know nothing of the broker's internals; nothing
// imports the CLI.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment:
        'An import cycle ties modules so that neither can change alone; break it with a type module or an injected function.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'core-knows-no-outside',
      comment:
        'protocol/, topic/ and session/ are the sans-I/O core shared by broker and client: no sockets, stores, broker, config or CLI.',
      severity: 'error',
      from: { path: '^src/(protocol|topic|session)/' },
      to: { path: '^src/(broker|store|transport|auth|config|cli|cluster|http|client)/' },
    },
    {
      name: 'protocol-is-the-bottom',
      comment: 'The codec depends on nothing of Fennec but errors/.',
      severity: 'error',
      from: { path: '^src/protocol/' },
      to: { path: '^src/(topic|session)/' },
    },
    {
      name: 'topic-knows-no-session',
      comment: 'Topic matching and validation are generic in what they store.',
      severity: 'error',
      from: { path: '^src/topic/' },
      to: { path: '^src/session/' },
    },
    {
      name: 'store-knows-no-broker',
      comment: 'A Store keeps records; it knows no sockets, sessions objects or broker.',
      severity: 'error',
      from: { path: '^src/store/' },
      to: { path: '^src/(broker|session|transport|auth|config|cli|cluster|http|client)/' },
    },
    {
      name: 'transport-knows-no-mqtt-state',
      comment: 'Listeners hand over a Duplex; they know no sessions or broker.',
      severity: 'error',
      from: { path: '^src/transport/' },
      // config/fields.ts holds the value lists of options (TLS versions), a leaf both may read
      to: { path: '^src/(broker|session|store|auth|config|cli)/', pathNot: '^src/config/fields[.]ts$' },
    },
    {
      name: 'auth-uses-only-hook-types',
      comment: 'Built-in auth is a hook like any other: it may use the hook and option types, not broker internals.',
      severity: 'error',
      from: { path: '^src/auth/' },
      to: { path: '^src/broker/', pathNot: '^src/broker/(hooks|options|addresses)[.]ts$' },
    },
    {
      name: 'config-reads-no-broker-internals',
      comment: 'The configuration reads options; it does not reach into the running broker.',
      severity: 'error',
      from: { path: '^src/config/' },
      to: {
        path: '^src/(broker/(broker|connection|context|handlers/.*|router|subscriptions|session-registry|wills|restore|admission|listeners)[.]ts|session/|store/sqlite)',
      },
    },
    {
      name: 'client-knows-no-broker',
      comment:
        'The client library is the second shell over the session core: it shares protocol/, topic/ and session/ with the broker, never the broker, the SQLite store or the CLI.',
      severity: 'error',
      from: { path: '^src/client/' },
      to: { path: '^src/(broker/|store/sqlite|cli/)' },
    },
    {
      name: 'only-the-cli-imports-http',
      comment:
        'src/http/ (metrics, admin API) is a shell over the broker, as the CLI is: it imports the broker and its parts, and nothing but the CLI imports it, so the broker stays free of HTTP.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(http|cli)/' },
      to: { path: '^src/http/' },
    },
    {
      name: 'http-uses-no-wire-or-store-internals',
      comment:
        'The admin API changes the broker through its public methods, never through a store, a transport or the codec directly.',
      severity: 'error',
      from: { path: '^src/http/' },
      to: { path: '^src/(store|transport|client|cluster)/|^src/protocol/(decoder|encoder|decode-body|reader)[.]ts$' },
    },
    {
      name: 'only-the-cli-imports-cluster',
      comment:
        'src/cluster/ (the Redis bus) is plugged into a Broker through BrokerOptions.bus by whoever composes it: only the CLI imports it (at run time, when the configuration has cluster:), so that a broker alone loads nothing of Redis.',
      severity: 'error',
      // src/workers/ (several broker processes) reuses the two engine-neutral parts of the cluster,
      // the route table and the message codec, which import nothing of Redis (one of each, not two):
      // its own rule below allows those two only.
      from: { path: '^src/', pathNot: '^src/(cluster|cli|workers)/' },
      to: { path: '^src/cluster/' },
    },
    {
      name: 'workers-reuse-only-neutral-cluster-parts',
      comment:
        'src/workers/ may use the route table and the message codec of src/cluster/, nothing that speaks to Redis.',
      severity: 'error',
      from: { path: '^src/workers/' },
      to: { path: '^src/cluster/', pathNot: '^src/cluster/(routes|codec)[.]ts$' },
    },
    {
      name: 'only-the-cli-imports-workers',
      comment:
        'src/workers/ (fennec broker --workers N) is composed by the CLI alone, at run time when N is over 1, so that a broker in one process loads nothing of it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(workers|cli)/' },
      to: { path: '^src/workers/' },
    },
    {
      name: 'worker-bus-uses-only-the-bus-seam',
      comment: "The workers' bus sees the broker only through the Bus seam (broker/bus.ts), as the Redis bus does.",
      severity: 'error',
      from: { path: '^src/workers/(worker-bus|frame)[.]ts$' },
      to: { path: '^src/(broker/(?!bus[.]ts$)|store/|transport/|auth/|http/|client/|config/)' },
    },
    {
      name: 'only-cluster-imports-redis',
      comment: "ioredis is the cluster layer's alone.",
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cluster/' },
      to: { path: '(^|/)node_modules/ioredis/' },
    },
    {
      name: 'cluster-uses-only-the-bus-seam',
      comment:
        'The Redis bus sees the broker only through the Bus seam (broker/bus.ts): it hands messages in through BusHost, never reaching into sessions, connections or the router.',
      severity: 'error',
      from: { path: '^src/cluster/' },
      // The Redis store (src/cluster/redis-store.ts) implements the Store seam: it may import the
      // record types of src/store/types.ts, and nothing else of src/store. config/redis-url.ts is a
      // leaf parser of the Redis URL forms (no imports): the option check reads it to say what is
      // wrong with cluster.redis, the bus to connect; one parser, not two.
      to: {
        path: '^src/(broker/(?!bus[.]ts$)|store/(?!types[.]ts$)|transport/|auth/|http/|client/|config/)',
        pathNot: '^src/config/redis-url[.]ts$',
      },
    },
    {
      name: 'nothing-imports-the-cli',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
