/**
 * The broker's options. Every option that holds a value is written once, in the option table of
 * src/config/options.ts, which gives its type, default, range and documentation (docs/configuration.md);
 * this file adds the fields that are not values (the store, the hooks, the logger).
 */
import type { Logger } from 'pino';
import type { SettableBrokerOptions } from '../config/options.js';
import type { Store } from '../store/types.js';
import type { BrokerHooks } from './hooks.js';
import type { Bus } from './bus.js';

export type { AllowAnonymous } from '../config/fields.js';
export {
  defaultBrokerOptions,
  defaultListenerOptions,
  defaultTlsOptions,
  type ListenerOptions,
  type ResolvedBrokerOptions,
  type SettableBrokerOptions,
  type TlsOptions,
} from '../config/options.js';
export { resolveOptions } from '../config/validate.js';

/**
 * Options of `new Broker(options)`; every field is optional. The fields that hold values are
 * `SettableBrokerOptions`: each is a key of the configuration file, listed with its unit, range and
 * default in docs/configuration.md, and checked by `new Broker()`, which throws an
 * `InvalidOptionError` (`ERR_INVALID_OPTION`) naming the field, its file key and the rule.
 */
export interface BrokerOptions extends SettableBrokerOptions {
  /**
   * Where sessions, their subscriptions and queued QoS 1/2 messages, and retained messages outlive the
   * process (see src/store). The broker restores from it in `open()` and commits to it once per turn
   * of the event loop, acknowledging QoS 1/2 messages only once they are committed. The creator of
   * the store closes it, after `broker.close()`. Default: none, everything lives in memory.
   */
  store?: Store;
  /**
   * Decisions the broker asks of the embedder (authentication, authorization): one hooks object, or
   * several whose hooks of each kind chain in this order (see docs/hooks.md); more can be added with
   * `broker.hooks.add`.
   */
  hooks?: BrokerHooks | readonly BrokerHooks[];
  /** A pino logger; default: silent. */
  logger?: Logger;
  /**
   * The bus to the other nodes of a cluster (src/cluster: `RedisBus`): messages published here go
   * to the nodes with a matching subscription, and theirs come here; QoS 1/2 acknowledgements wait
   * until the bus has accepted the message. Started by `open()`, closed by `close()`. Default: none,
   * a broker alone.
   */
  bus?: Bus;
}

/**
 * The limits counted in `broker.counters.limits` each time they trigger. (maxQueuedBytes, like
 * maxQueuedMessages, is a drop: counted in `broker.counters.dropped['queue-bytes-full']`.)
 */
export const limitNames = [
  'maxConnections',
  'maxConnectionsPerAddress',
  'maxSubscriptionsPerClient',
  'maxTopicLength',
  'maxTopicLevels',
  'maxPublishRate',
  'maxPublishBytesRate',
  'maxControlPacketRate',
  'packetTimeoutMs',
] as const satisfies readonly (keyof SettableBrokerOptions)[];
/** A limit counted in `broker.counters.limits`. */
export type LimitName = (typeof limitNames)[number];
