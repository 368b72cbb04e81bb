/**
 * A TCP proxy on 127.0.0.1 and port 0 between a client and the broker, for the tests of a link that
 * breaks: it can stop forwarding one direction of the current connections (a dead link that stays
 * open), cut them, and decode what clients sent. New connections always forward. Closed after the test.
 */
import net from 'node:net';
import { Decoder, type Packet } from '../../src/protocol/index.js';
import type { CleanupContext } from '../helpers/broker.js';

interface Pair {
  client: net.Socket;
  broker: net.Socket;
  upstream: boolean;
  downstream: boolean;
}

export class Proxy {
  /** Packets each connection's client sent, decoded, one list per connection in order. */
  readonly sent: Packet[][] = [];
  /** While true, new connections are closed at once (a broker that cannot be reached yet). */
  refuseNew = false;
  private readonly pairs = new Set<Pair>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(t: CleanupContext, brokerPort: number, version: 4 | 5): Promise<Proxy> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new Proxy(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (client) => proxy.accept(client, brokerPort, version));
    t.after(() => proxy.close());
    return proxy;
  }

  private accept(client: net.Socket, brokerPort: number, version: 4 | 5): void {
    if (this.refuseNew) {
      client.destroy();
      return;
    }
    const broker = net.connect(brokerPort, '127.0.0.1');
    const pair: Pair = { client, broker, upstream: true, downstream: true };
    const packets: Packet[] = [];
    this.sent.push(packets);
    const decoder = new Decoder({ protocolVersion: version });
    this.pairs.add(pair);
    client.on('data', (chunk: Buffer) => {
      if (!pair.upstream) return;
      decoder.feed(chunk, (p) => packets.push(p));
      broker.write(chunk);
    });
    broker.on('data', (chunk: Buffer) => {
      if (pair.downstream) client.write(chunk);
    });
    const end = (): void => {
      client.destroy();
      broker.destroy();
      this.pairs.delete(pair);
    };
    client.on('close', end).on('error', end);
    broker.on('close', end).on('error', end);
  }

  /** The current connections stop forwarding what the client sends. */
  holdUpstream(): void {
    for (const pair of this.pairs) pair.upstream = false;
  }

  /** The current connections stop forwarding what the broker sends. */
  holdDownstream(): void {
    for (const pair of this.pairs) pair.downstream = false;
  }

  /** Destroys the current connections on both sides. */
  cut(): void {
    for (const pair of [...this.pairs]) {
      pair.client.destroy();
      pair.broker.destroy();
    }
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
