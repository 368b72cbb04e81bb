/**
 * Drives the sans-I/O session core without sockets: a SessionSink that decodes what it is given,
 * and a Link agreed with given settings on a fake clock.
 */
import { Decoder, type Packet, type ProtocolVersion, type PublishPacket } from '../../src/protocol/index.js';
import { Link, type LinkSettings } from '../../src/session/link.js';
import type { SessionSink } from '../../src/session/types.js';

/** A clock the test moves by hand, in ms. */
export class FakeClock {
  constructor(public time = 1_000_000) {}
  readonly now = (): number => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}

/** A sink that decodes every packet written to it, and is writable unless told otherwise. */
export class RecordingSink implements SessionSink {
  canWrite = true;
  readonly packets: Packet[] = [];
  private readonly decoder: Decoder;

  constructor(version: ProtocolVersion = 4) {
    this.decoder = new Decoder({ protocolVersion: version });
  }

  writable(): boolean {
    return this.canWrite;
  }

  write(buf: Buffer): void {
    this.decoder.feed(buf, (packet) => this.packets.push(packet));
  }

  /** The PUBLISH packets written, in order. */
  get publishes(): PublishPacket[] {
    return this.packets.filter((p): p is PublishPacket => p.type === 'publish');
  }

  /** The payloads of the PUBLISH packets written, as text. */
  get sent(): string[] {
    return this.publishes.map((p) => p.payload.toString());
  }

  /** Forgets what was written so far. */
  clear(): void {
    this.packets.length = 0;
  }
}

/** Settings of a Link as a broker with its defaults would agree them with a client that asked for none. */
export const defaultLinkSettings: LinkSettings = {
  keepAlive: 60,
  receiveMaximum: 65_535,
  topicAliasMaximum: 10,
  peerReceiveMaximum: 65_535,
  peerMaximumPacketSize: 268_435_460,
  outgoingTopicAliasMaximum: 0,
};

/** A Link of `version` agreed with `settings` (over the defaults), on `clock`. */
export function agreedLink(
  version: ProtocolVersion = 4,
  settings: Partial<LinkSettings> = {},
  clock: FakeClock = new FakeClock(),
): Link {
  const link = new Link(clock.now);
  link.version = version;
  link.agree({ ...defaultLinkSettings, ...settings });
  return link;
}
