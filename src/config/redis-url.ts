/**
 * The forms of the cluster's Redis URL (cluster.redis, `--cluster-redis`), parsed into what a Redis
 * client needs: one server (`redis://`, `rediss://`), a master found through Sentinel
 * (`redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER`) or a Redis Cluster
 * (`redis+cluster://HOST:PORT[,HOST:PORT...]`). A leaf with no imports: the option check reads it to
 * say what is wrong with a URL, and the Redis bus reads it to connect (docs/cluster.md).
 */

/** A host and TCP port of a Sentinel or of a Redis Cluster node. */
export interface RedisAddress {
  host: string;
  port: number;
}

/** What a cluster's Redis URL names. */
export type RedisTarget =
  | { kind: 'server'; url: string }
  | {
      kind: 'sentinel';
      sentinels: RedisAddress[];
      /** The master group name the Sentinels monitor. */
      name: string;
      username?: string;
      password?: string;
      db: number;
    }
  | { kind: 'cluster'; nodes: RedisAddress[]; username?: string; password?: string };

/** The forms accepted, as an error message names them. */
export const redisUrlForms =
  'redis://HOST:PORT, rediss://HOST:PORT, redis+sentinel://HOST:PORT[,HOST:PORT]/MASTER or redis+cluster://HOST:PORT[,HOST:PORT]';

/** Parses `HOST:PORT` or `[IPV6]:PORT`; the port defaults to `defaultPort`. */
function parseAddress(text: string, defaultPort: number): RedisAddress | string {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(text);
  if (match === null) return `has a bad address "${text}" (HOST:PORT)`;
  const port = match[2] === undefined ? defaultPort : Number(match[2]);
  if (port < 1 || port > 65_535) return `has a bad port in "${text}" (1 to 65535)`;
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Splits `user:password` of a URL's authority, decoding percent escapes. */
function credentials(userinfo: string | undefined): { username?: string; password?: string } {
  if (userinfo === undefined || userinfo === '') return {};
  const colon = userinfo.indexOf(':');
  const username = decodeURIComponent(colon < 0 ? userinfo : userinfo.slice(0, colon));
  const password = colon < 0 ? undefined : decodeURIComponent(userinfo.slice(colon + 1));
  return { ...(username === '' ? {} : { username }), ...(password === undefined ? {} : { password }) };
}

/** A multi-host URL: `SCHEME://[USER[:PASSWORD]@]HOST:PORT[,HOST:PORT...][/PATH]`. */
function parseMultiHost(
  url: string,
  defaultPort: number,
): { addresses: RedisAddress[]; path: string; username?: string; password?: string } | string {
  const match = /^[a-z+]+:\/\/(?:([^@/]*)@)?([^/@]+)(?:\/(.*))?$/.exec(url);
  if (match === null) return 'names no host';
  const addresses: RedisAddress[] = [];
  for (const part of match[2]!.split(',')) {
    const address = parseAddress(part, defaultPort);
    if (typeof address === 'string') return address;
    addresses.push(address);
  }
  try {
    return { addresses, path: match[3] ?? '', ...credentials(match[1]) };
  } catch {
    return 'has a badly escaped user or password';
  }
}

/** Parses a cluster's Redis URL; a string is what is wrong with it, as a sentence's predicate. */
export function parseRedisUrl(url: string): RedisTarget | string {
  const scheme = /^([a-z+]+):\/\//.exec(url)?.[1];
  if (scheme === 'redis' || scheme === 'rediss') {
    try {
      if (new URL(url).hostname === '') return `names no host (${redisUrlForms})`;
    } catch {
      return `is not a valid URL (${redisUrlForms})`;
    }
    return { kind: 'server', url };
  }
  if (scheme === 'redis+sentinel') {
    const parsed = parseMultiHost(url, 26_379);
    if (typeof parsed === 'string') return `${parsed} (redis+sentinel://HOST:PORT[,HOST:PORT]/MASTER)`;
    const [name, db, ...rest] = parsed.path.split('/');
    if (name === undefined || name === '' || rest.length > 0) {
      return 'must name the master after the Sentinels (redis+sentinel://HOST:PORT[,HOST:PORT]/MASTER[/DB])';
    }
    if (db !== undefined && db !== '' && !/^\d{1,2}$/.test(db)) return `has a bad database number "${db}"`;
    const { addresses, username, password } = parsed;
    return {
      kind: 'sentinel',
      sentinels: addresses,
      name: decodeURIComponent(name),
      db: db === undefined || db === '' ? 0 : Number(db),
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
    };
  }
  if (scheme === 'redis+cluster') {
    const parsed = parseMultiHost(url, 6379);
    if (typeof parsed === 'string') return `${parsed} (redis+cluster://HOST:PORT[,HOST:PORT])`;
    if (parsed.path !== '')
      return 'takes no path: a Redis Cluster has one database (redis+cluster://HOST:PORT[,HOST:PORT])';
    const { addresses, username, password } = parsed;
    return {
      kind: 'cluster',
      nodes: addresses,
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
    };
  }
  return `must be a Redis URL (${redisUrlForms})`;
}

/** `url` without its password, for logs and errors. */
export function redactedRedisUrl(url: string): string {
  return url.replace(/^([a-z+]+:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}
