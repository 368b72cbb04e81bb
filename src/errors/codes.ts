/**
 * Every `code` a FennecError (or a subclass) can carry, each with a one-line meaning. The table is
 * the single source: `FennecErrorCode` is its keys, so a misspelt code fails to compile, and
 * test/unit/errors-docs.test.ts checks docs/errors.md against it both ways. Codes are stable: never
 * rename one, add a new one instead.
 */
export const errorCodes = {
  // The codec (src/protocol).
  ERR_MALFORMED_PACKET: 'the bytes do not form a valid packet (reason code 0x81)',
  ERR_PROTOCOL_ERROR: 'a well-formed packet breaks a protocol rule (reason code 0x82 or a more specific one)',
  ERR_PACKET_TOO_LARGE: "a packet's announced size exceeds the maximum packet size (reason code 0x95)",
  ERR_UNSUPPORTED_PROTOCOL: 'CONNECT names a protocol name or level the codec does not speak (reason code 0x84)',
  ERR_ENCODE: 'a packet given to the encoder cannot be expressed on the wire',
  // Topics (src/topic).
  ERR_INVALID_TOPIC_NAME: 'a topic name is empty, has wildcards or breaks a length or level limit (reason code 0x90)',
  ERR_INVALID_TOPIC_FILTER: 'a topic filter breaks the wildcard rules or a length or level limit (reason code 0x8F)',
  // The broker (src/broker, src/transport).
  ERR_HOOK_FAILED: "an embedder's hook threw or rejected; the request it decided is refused",
  ERR_INVALID_HOOKS:
    'hooks given to `new Broker` or `broker.hooks.add` are not what BrokerHooks says; nothing is registered',
  ERR_INTERNAL: 'an unexpected value was thrown; it is kept as `cause`',
  ERR_ALREADY_LISTENING: '`broker.listen()` was called twice',
  ERR_ADDRESS_IN_USE: "the listener's address and port are taken",
  ERR_LISTEN: 'a listener could not start for another reason (permission, bad address)',
  // The cluster on Redis (src/cluster).
  ERR_CLUSTER_REDIS: 'a cluster node could not reach its Redis server when it started (`cluster.redis`)',
  ERR_CLUSTER_HANDOVER:
    'a session could not be handed over to another cluster node; the new node takes it after a timeout',
  ERR_CLUSTER_REDIS_URL:
    '`RedisBus` was given a Redis URL it cannot parse (the configuration checks `cluster.redis` first)',
  ERR_CLUSTER_REDIS_VERSION:
    "the cluster's Redis cannot do what an option asks: `cluster.wait_aof` needs Redis 7.2 or later",
  // Several broker processes (src/workers).
  ERR_WORKERS_OPTIONS:
    '`workers` over 1 was given with an option the workers cannot serve (a TLS or WebSocket listener, `trust_proxy`, `cluster`)',
  ERR_WORKERS_DATA_DIR: 'the data directory was written with another `workers` count (sessions are kept per worker)',
  ERR_WORKER_EXITED: 'a worker of `fennec broker --workers N` ended before it was ready (it printed why)',
  // Authentication and access control (src/auth).
  ERR_PASSWORD_FILE: 'a password file is missing, unreadable or has a bad line',
  ERR_PASSWORD_HASH: '`hashPassword` was given scrypt parameters out of bounds',
  ERR_ACL_FILE: 'an ACL file cannot be read or has a line that does not parse',
  // The command line (src/cli).
  ERR_PASSWORD_INPUT: '`fennec passwd` got no password, an empty or too long one, or two that differ',
  ERR_PASSWORD_WRITE: '`fennec passwd` cannot write the password file',
  ERR_NO_SUCH_USER: '`fennec passwd -D` names a user the file does not have',
  ERR_BAD_FLAG: 'a command-line flag has a bad value',
  ERR_IMPORT_CONFIG: '`fennec import-config` cannot read the Mosquitto configuration file',
  ERR_BENCH_CONNECT: '`fennec bench` could not connect or subscribe a client to the broker',
  ERR_LOG_DEST: '`fennec broker` cannot open its log file, or find the `logger` program for syslog',
  ERR_PID_FILE: '`fennec broker` cannot write its pid file',
  ERR_DAEMON: '`fennec broker -d`: the background process could not start or ended before it listened',
  ERR_CLI_INPUT: '`fennec pub` or `fennec sub` cannot read a file it was given (-f, --cafile, --capath, --cert, --key)',
  ERR_SUB_TIMEOUT: '`fennec sub -W`: the time ran out before the command was done (exit code 27)',
  ERR_SUB_REFUSED: '`fennec sub`: the broker refused every subscription of the SUBSCRIBE',
  // Configuration (src/config).
  ERR_CONFIG: 'the configuration file or environment is missing, unreadable or invalid',
  ERR_INVALID_OPTION: '`new Broker(options)` was given a value its option does not accept',
  // Stores (src/store).
  ERR_STORE_OPEN: "the store's data directory or database file cannot be created or read",
  ERR_STORE_LOCKED: "the SQLite store's file is held by another process",
  ERR_STORE_CORRUPT: "the SQLite store's file is not a sound Fennec database",
  ERR_STORE_SCHEMA_NEWER: "the SQLite store's file was written by a newer Fennec",
  ERR_STORE_FULL: 'a commit failed because the disk or `maxDatabaseBytes` is full; nothing of it was applied',
  ERR_STORE_WRITE: 'a commit failed for another reason; nothing of it was applied',
  // TLS (src/transport/tls.ts).
  ERR_TLS_FILE: 'a TLS certificate, key or CA file cannot be read',
  ERR_TLS_CREDENTIALS: 'a TLS certificate, key or CA file cannot be used (no PEM, key does not match)',
  ERR_TLS_OPTIONS: 'the TLS options contradict each other or name a cipher list OpenSSL refuses',
  ERR_TLS_CLIENT_CERT: 'a TLS client was refused because of its certificate (logged, not thrown)',
  ERR_TLS_NOT_LISTENING: '`broker.reloadTls()` was called without a running TLS listener',
  // The client library (src/client).
  ERR_CLIENT_URL: "the client's URL does not parse or names a scheme other than mqtt, mqtts, ws or wss",
  ERR_CLIENT_CONNECT: 'the client could not reach the broker, or the connection closed or timed out before CONNACK',
  ERR_CLIENT_REFUSED: 'the broker refused the CONNECT with a failure reason code in CONNACK',
  ERR_CLIENT_PUBLISH_REFUSED: 'the broker answered a QoS 1/2 PUBLISH with a failure reason code',
  ERR_CLIENT_QUEUE_FULL: "a publish found the client's offline queue full and was not queued",
  ERR_CLIENT_OFFLINE: 'a QoS 0 publish was made while the client was not connected',
  ERR_CLIENT_TOO_LARGE: "a publish is larger than the broker's Maximum Packet Size (reason code 0x95)",
  ERR_CLIENT_CLOSED: 'the client was ended; what was pending is rejected',
  ERR_CLIENT_DISCONNECTED: 'the broker sent DISCONNECT, or the link closed or missed its PINGRESP deadline',
  ERR_CLIENT_QOS_NOT_SUPPORTED:
    "a publish asked for a QoS above the broker's Maximum QoS from CONNACK (reason code 0x9B)",
  ERR_CLIENT_RETAIN_NOT_SUPPORTED:
    'a publish set RETAIN but the broker announced Retain Available 0 (reason code 0x9A)',
  ERR_CLIENT_ABORTED: "connect()'s AbortSignal was aborted before the connection was accepted",
  ERR_CLIENT_AUTH: "the client's enhanced authentication failed: a callback threw, or the broker broke the exchange",
  ERR_CLIENT_STORE: "the client's offline store could not be read or written, or was given without a clientId",
} as const;

/** A stable error code: one of the keys of `errorCodes`. */
export type FennecErrorCode = keyof typeof errorCodes;
