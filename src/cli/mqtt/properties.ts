/**
 * `-D COMMAND IDENTIFIER VALUE`: MQTT 5.0 properties given the way mosquitto_pub and mosquitto_sub
 * take them (`-D publish user-property key value`, `-D connect session-expiry-interval 60`), read
 * into the property objects of the client library.
 */
import { InvalidArgumentError } from 'commander';
import type {
  ConnectProperties,
  PublishProperties,
  SubscribeProperties,
  UserProperty,
  WillProperties,
} from '../../protocol/index.js';

/** The packets a property can be given for, in mosquitto's names. */
export type PropertyCommand = 'connect' | 'publish' | 'subscribe' | 'will';

/** How a property's value is read. */
type ValueKind = 'u8' | 'u16' | 'u32' | 'varint' | 'string' | 'binary' | 'pair';

interface PropertySpec {
  name: string;
  kind: ValueKind;
  commands: readonly PropertyCommand[];
}

/** mosquitto's property names, the library's names for them, and where each may be given. */
const SPECS: Record<string, PropertySpec> = {
  'content-type': { name: 'contentType', kind: 'string', commands: ['publish', 'will'] },
  'correlation-data': { name: 'correlationData', kind: 'binary', commands: ['publish', 'will'] },
  'message-expiry-interval': { name: 'messageExpiryInterval', kind: 'u32', commands: ['publish', 'will'] },
  'payload-format-indicator': { name: 'payloadFormatIndicator', kind: 'u8', commands: ['publish', 'will'] },
  'response-topic': { name: 'responseTopic', kind: 'string', commands: ['publish', 'will'] },
  'user-property': { name: 'userProperties', kind: 'pair', commands: ['connect', 'publish', 'subscribe', 'will'] },
  'will-delay-interval': { name: 'willDelayInterval', kind: 'u32', commands: ['will'] },
  'session-expiry-interval': { name: 'sessionExpiryInterval', kind: 'u32', commands: ['connect'] },
  'maximum-packet-size': { name: 'maximumPacketSize', kind: 'u32', commands: ['connect'] },
  'receive-maximum': { name: 'receiveMaximum', kind: 'u16', commands: ['connect'] },
  'topic-alias-maximum': { name: 'topicAliasMaximum', kind: 'u16', commands: ['connect'] },
  'request-problem-information': { name: 'requestProblemInformation', kind: 'u8', commands: ['connect'] },
  'request-response-information': { name: 'requestResponseInformation', kind: 'u8', commands: ['connect'] },
  'subscription-identifier': { name: 'subscriptionIdentifier', kind: 'varint', commands: ['subscribe'] },
};

/** Property names mosquitto knows that fennec cannot send yet, and why. */
const UNSUPPORTED: Record<string, string> = {
  'authentication-method': 'enhanced authentication is not supported by fennec pub/sub',
  'authentication-data': 'enhanced authentication is not supported by fennec pub/sub',
  'topic-alias': 'the client library sends no topic aliases',
};

/** Properties per packet, as the client library takes them. */
export interface CliProperties {
  connect: ConnectProperties;
  publish: PublishProperties;
  subscribe: SubscribeProperties;
  will: WillProperties;
}

const MAX: Record<Exclude<ValueKind, 'string' | 'binary' | 'pair'>, number> = {
  u8: 1,
  u16: 65_535,
  u32: 4_294_967_295,
  varint: 268_435_455,
};

function parseNumber(kind: keyof typeof MAX, identifier: string, value: string): number {
  const n = Number(value);
  const min = kind === 'varint' || identifier === 'receive-maximum' || identifier === 'maximum-packet-size' ? 1 : 0;
  if (!/^\d+$/.test(value) || n < min || n > MAX[kind]) {
    throw new InvalidArgumentError(`${identifier} must be an integer from ${min} to ${MAX[kind]}, not ${value}`);
  }
  return n;
}

/**
 * Reads the values of every `-D` in order (commander gives them as one flat list): a command, an
 * identifier, then one value, or two for `user-property`. `allowed` are the commands this tool
 * takes. Throws InvalidArgumentError, which ends the command with exit code 2.
 */
export function parseProperties(words: readonly string[], allowed: readonly PropertyCommand[]): CliProperties {
  const result: CliProperties = { connect: {}, publish: {}, subscribe: {}, will: {} };
  let i = 0;
  while (i < words.length) {
    const command = words[i] ?? '';
    const identifier = words[i + 1];
    if (!(allowed as readonly string[]).includes(command)) {
      throw new InvalidArgumentError(`-D command must be one of ${allowed.join(', ')}, not ${JSON.stringify(command)}`);
    }
    if (identifier === undefined) throw new InvalidArgumentError(`-D ${command} needs a property name and a value`);
    const unsupported = UNSUPPORTED[identifier];
    if (unsupported !== undefined) throw new InvalidArgumentError(`-D ${command} ${identifier}: ${unsupported}`);
    const spec = SPECS[identifier];
    if (spec === undefined)
      throw new InvalidArgumentError(`-D ${command}: unknown property ${JSON.stringify(identifier)}`);
    if (!spec.commands.includes(command as PropertyCommand)) {
      throw new InvalidArgumentError(`-D: ${identifier} is not a property of ${command}`);
    }
    const arity = spec.kind === 'pair' ? 2 : 1;
    const values = words.slice(i + 2, i + 2 + arity);
    if (values.length < arity) {
      throw new InvalidArgumentError(
        `-D ${command} ${identifier} needs ${arity === 2 ? 'a key and a value' : 'a value'}`,
      );
    }
    i += 2 + arity;
    const target = result[command as PropertyCommand] as Record<string, unknown>;
    const value = values[0]!;
    switch (spec.kind) {
      case 'pair': {
        const list = (target[spec.name] as UserProperty[] | undefined) ?? [];
        list.push([value, values[1]!]);
        target[spec.name] = list;
        break;
      }
      case 'string':
        target[spec.name] = value;
        break;
      case 'binary':
        // mosquitto treats binary properties given on the command line as strings: their bytes
        target[spec.name] = Buffer.from(value);
        break;
      case 'u8':
        target[spec.name] = parseNumber('u8', identifier, value) === 1;
        break;
      case 'u16':
      case 'u32':
      case 'varint':
        target[spec.name] = parseNumber(spec.kind, identifier, value);
        break;
      default: {
        const never: never = spec.kind;
        throw new Error(`unreachable: ${String(never)}`);
      }
    }
  }
  return result;
}

/** Whether `properties` holds anything: `{}` is sent as no properties. */
export function isEmpty(properties: object): boolean {
  return Object.keys(properties).length === 0;
}

/** The names `-D` takes, for help and docs. */
export const propertyNames = Object.keys(SPECS);
