// The PROXY protocol (v1 text, v2 binary) on an `mqtt` listener with trustProxy: the header's client
// address becomes the connection's; a connection without a valid header is closed and the broker
// keeps serving. The parser is checked on its own first.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { Broker } from '../../src/broker/broker.js';
import { parseProxyHeader, ProxyHeaderError } from '../../src/transport/proxy-protocol.js';
import * as pkt from '../helpers/packets.js';
import { PacketStream, type ReceivedPacket } from '../helpers/parse.js';
import { waitForBrokerEvent, withTimeout, WAIT_MS } from '../interop/support.js';

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 header: PROXY (or LOCAL) over TCP, with `addresses` (source address, destination address, ports). */
function v2(command: 0 | 1, family: 0x11 | 0x21 | 0x00, addresses: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(addresses.length);
  return Buffer.concat([SIGNATURE, Buffer.from([0x20 | command, family]), length, addresses]);
}

function ports(source: number, destination: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt16BE(source, 0);
  out.writeUInt16BE(destination, 2);
  return out;
}

const v2Inet = v2(
  0x1,
  0x11,
  Buffer.concat([Buffer.from([192, 0, 2, 33]), Buffer.from([10, 0, 0, 1]), ports(40_000, 1883)]),
);
const v2Inet6 = v2(
  0x1,
  0x21,
  Buffer.concat([Buffer.from('20010db8000000000000000000000042', 'hex'), Buffer.alloc(16), ports(50_000, 1883)]),
);

void describe('PROXY protocol header parser', () => {
  void it('reads v1 TCP4, TCP6 and UNKNOWN lines', () => {
    const line = Buffer.from('PROXY TCP4 198.51.100.22 10.0.0.1 51000 1883\r\nrest');
    assert.deepEqual(parseProxyHeader(line), {
      length: line.length - 4,
      address: { remoteAddress: '198.51.100.22', remotePort: 51_000 },
    });
    assert.deepEqual(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::7 ::1 1 2\r\n')), {
      length: 32,
      address: { remoteAddress: '2001:db8::7', remotePort: 1 },
    });
    assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { length: 15, address: undefined });
  });

  void it('reads v2 PROXY headers for IPv4 and IPv6, and LOCAL without an address', () => {
    assert.deepEqual(parseProxyHeader(v2Inet), {
      length: 28,
      address: { remoteAddress: '192.0.2.33', remotePort: 40_000 },
    });
    assert.deepEqual(parseProxyHeader(v2Inet6), {
      length: 52,
      address: { remoteAddress: '2001:db8::42', remotePort: 50_000 },
    });
    assert.deepEqual(parseProxyHeader(v2(0x0, 0x00, Buffer.alloc(0))), { length: 16, address: undefined });
  });

  void it('waits for the rest of a header cut anywhere', () => {
    const line = Buffer.from('PROXY TCP4 198.51.100.22 10.0.0.1 51000 1883\r\n');
    for (const header of [line, v2Inet]) {
      for (let cut = 1; cut < header.length; cut++)
        assert.equal(parseProxyHeader(header.subarray(0, cut)), 'incomplete');
    }
  });

  void it('refuses what is not a valid header', () => {
    const bad = [
      pkt.connect({ clientId: 'no-header' }),
      Buffer.from('PROXI TCP4'),
      Buffer.from('PROXY TCP4 300.1.1.1 10.0.0.1 1 2\r\n'),
      Buffer.from('PROXY TCP4 198.51.100.22 10.0.0.1 70000 1883\r\n'),
      Buffer.from('PROXY TCP5 198.51.100.22 10.0.0.1 1 2\r\n'),
      Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`),
      Buffer.concat([SIGNATURE, Buffer.from([0x10, 0x11, 0, 0])]),
      v2(0x1, 0x11, Buffer.alloc(4)),
    ];
    for (const bytes of bad) assert.throws(() => parseProxyHeader(bytes), ProxyHeaderError, bytes.toString('latin1'));
  });
});

/** A broker whose one listener is `mqtt` behind a trusted proxy; closed after the test. */
async function proxiedBroker(t: TestContext): Promise<{ broker: Broker; port: number }> {
  const broker = new Broker({
    host: '127.0.0.1',
    allowAnonymous: true,
    listeners: [{ name: 'behind-proxy', protocol: 'mqtt', port: 0, trustProxy: true }],
  });
  const { port } = await broker.listen();
  t.after(() => broker.close());
  return { broker, port };
}

/** Opens a TCP connection, writes `chunks` one by one, and collects packets until the socket closes. */
async function exchange(t: TestContext, port: number, chunks: Buffer[]) {
  const socket: Socket = netConnect({ host: '127.0.0.1', port });
  t.after(() => socket.destroy());
  const stream = new PacketStream(4);
  const packets: ReceivedPacket[] = [];
  let closed = false;
  socket.on('data', (chunk: Buffer) => packets.push(...stream.push(chunk)));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  for (const chunk of chunks) {
    socket.write(chunk);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { socket, packets, closed: () => closed };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  await withTimeout(
    (async () => {
      while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
    })(),
    WAIT_MS,
    what,
  );
}

void describe('an mqtt listener with trustProxy (PROXY protocol)', () => {
  void it('takes the client address from a v1 header sent with CONNECT in one write', async (t) => {
    const { broker, port } = await proxiedBroker(t);
    const connected = waitForBrokerEvent(broker, 'clientConnected', (client) => client.clientId === 'via-v1');
    const header = Buffer.from('PROXY TCP4 198.51.100.22 10.0.0.1 51000 1883\r\n');
    const { packets } = await exchange(t, port, [Buffer.concat([header, pkt.connect({ clientId: 'via-v1' })])]);
    const [client] = await connected;
    assert.equal(client.remoteAddress, '198.51.100.22');
    assert.equal(client.listener, 'behind-proxy');
    await until(() => packets.length > 0, 'CONNACK');
    assert.equal(packets[0]?.type, 'connack');
  });

  void it('takes the client address from a v2 header split over writes, CONNECT after it', async (t) => {
    const { broker, port } = await proxiedBroker(t);
    const connected = waitForBrokerEvent(broker, 'clientConnected', (client) => client.clientId === 'via-v2');
    const connect = pkt.connect({ clientId: 'via-v2' });
    await exchange(t, port, [
      v2Inet6.subarray(0, 5),
      v2Inet6.subarray(5, 20),
      Buffer.concat([v2Inet6.subarray(20), connect.subarray(0, 3)]),
      connect.subarray(3),
    ]);
    const [client] = await connected;
    assert.equal(client.remoteAddress, '2001:db8::42');
  });

  void it('keeps the socket address for a v2 LOCAL header (a health check)', async (t) => {
    const { broker, port } = await proxiedBroker(t);
    const connected = waitForBrokerEvent(broker, 'clientConnected', (client) => client.clientId === 'local');
    await exchange(t, port, [Buffer.concat([v2(0x0, 0x00, Buffer.alloc(0)), pkt.connect({ clientId: 'local' })])]);
    const [client] = await connected;
    assert.equal(client.remoteAddress, '127.0.0.1');
  });

  void it('closes a connection that starts without a header, or with a bad one, and keeps serving', async (t) => {
    const { port } = await proxiedBroker(t);
    const bare = await exchange(t, port, [pkt.connect({ clientId: 'no-header' })]);
    await until(bare.closed, 'the connection without a header to close');
    assert.deepEqual(bare.packets, [], 'no CONNACK for a connection without a header');
    const bad = await exchange(t, port, [Buffer.from('PROXY TCP4 not-an-address 10.0.0.1 1 2\r\n')]);
    await until(bad.closed, 'the connection with a bad header to close');
    const good = await exchange(t, port, [Buffer.from('PROXY UNKNOWN\r\n'), pkt.connect({ clientId: 'fine' })]);
    await until(() => good.packets.length > 0, 'CONNACK after the refusals');
    assert.equal(good.packets[0]?.type, 'connack');
  });
});
