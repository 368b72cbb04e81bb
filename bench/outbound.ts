/**
 * Outbound fast paths of fan-in, each against the general path it replaces, in one run (medians of
 * alternating rounds, operations per second). Figures only, no assertions.
 *
 * 1. QoS 0 wire form: `encodePublish` of the message (the general path) against the PUBLISH's bytes
 *    as received (`receivedBytes`, a view of the chunk: session/verbatim.ts `forwardAsReceived`).
 * 2. QoS 1 wire form: `encodePublish` with a packet id against `withPacketId` (a copy of the bytes
 *    received with the first byte and packet id set).
 * 3. Writing one turn's small packets to a socket: one corked `write` per packet (the general path)
 *    against the packets copied into one buffer and written once (Connection's `combine`), over a
 *    real loopback socket whose peer discards what it reads.
 *
 *   npm run build && node dist/bench/outbound.js [--quick]
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { WireDecoder, encodePublish, receivedBytes, type PublishPacket } from '../src/protocol/index.js';
import { withPacketId } from '../src/session/verbatim.js';

const quick = process.argv.includes('--quick');
const rounds = quick ? 3 : 7;
const roundMs = quick ? 40 : 100;

/** One round of `fn` for about roundMs; operations per second. */
function round(fn: () => void): number {
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(roundMs) * 1_000_000n;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 256; i++) fn();
    n += 256;
    now = process.hrtime.bigint();
  }
  return (n * 1e9) / Number(now - start);
}

function median(values: number[]): number {
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)]!;
}

/** The median operations per second of `general` and `fast`, in alternating rounds after a warm-up of each. */
function compare(general: () => void, fast: () => void): [number, number] {
  round(general);
  round(fast);
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    a.push(round(general));
    b.push(round(fast));
  }
  return [median(a), median(b)];
}

function row(name: string, general: number, fast: number): void {
  const fmt = (x: number): string => `${(x / 1e6).toFixed(2)}M/s`;
  console.log(
    `${name.padEnd(44)} general ${fmt(general).padStart(10)}  fast ${fmt(fast).padStart(10)}  ${(fast / general).toFixed(2)}x`,
  );
}

/** A PUBLISH as the decoder hands it over: decoded from `wire`, its payload a view of it. */
function decoded(wire: Buffer, version: 4 | 5): PublishPacket {
  let packet: PublishPacket | undefined;
  new WireDecoder({ protocolVersion: version }).feed(wire, (p) => {
    if (p.type === 'publish') packet = p;
  });
  return packet!;
}

function codecRows(): void {
  for (const version of [4, 5] as const) {
    for (const qos of [0, 1] as const) {
      const message: PublishPacket = {
        type: 'publish',
        topic: 'mqload/1234/fanin/3',
        payload: Buffer.alloc(64, 0x61),
        qos,
        retain: false,
        dup: false,
        packetId: qos === 0 ? 0 : 7,
        properties: version === 5 ? {} : undefined,
      };
      const packet = decoded(encodePublish(message, version), version);
      let id = 0;
      const general = (): void => {
        id = (id % 65535) + 1;
        encodePublish(qos === 0 ? packet : { ...packet, packetId: id, dup: false }, version);
      };
      const template = receivedBytes(packet)!;
      const fast =
        qos === 0
          ? (): void => void receivedBytes(packet)
          : (): void => {
              id = (id % 65535) + 1;
              withPacketId(template, 1, false, false, id);
            };
      row(`QoS ${qos} wire form, ${version === 5 ? '5.0' : '3.1.1'}, 64 B`, ...compare(general, fast));
    }
  }
}

/** Packets per second written to a loopback socket, `perTurn` of `size` bytes per turn, either way. */
async function writeRows(): Promise<void> {
  const server = createServer((socket) => socket.on('data', () => undefined));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const socket: Socket = await new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
  });
  for (const [perTurn, size] of [
    [2, 90],
    [64, 90],
    [512, 90],
    [64, 4],
  ] as const) {
    const packets = Array.from({ length: perTurn }, () => Buffer.alloc(size, 0x30));
    const perPacket = (): void => {
      socket.cork();
      for (const p of packets) socket.write(p);
      socket.uncork();
    };
    // As Connection.combine: gathered up to 16 KiB, then copied into one buffer of their exact size.
    const combined = (): void => {
      const gathered: Buffer[] = [];
      let length = 0;
      for (const p of packets) {
        if (length + p.length > 16 * 1024) {
          socket.write(Buffer.concat(gathered, length));
          gathered.length = 0;
          length = 0;
        }
        gathered.push(p);
        length += p.length;
      }
      socket.write(gathered.length === 1 ? gathered[0]! : Buffer.concat(gathered, length));
    };
    await turns(socket, perPacket, perTurn);
    await turns(socket, combined, perTurn);
    const general: number[] = [];
    const fast: number[] = [];
    for (let r = 0; r < rounds; r++) {
      general.push(await turns(socket, perPacket, perTurn));
      fast.push(await turns(socket, combined, perTurn));
    }
    row(`write ${perTurn} packets of ${size} B per turn`, median(general), median(fast));
  }
  socket.destroy();
  server.close();
}

/** Packets per second of `turn` (writing `perTurn` packets) repeated for one round, a turn of the event loop each. */
async function turns(socket: Socket, turn: () => void, perTurn: number): Promise<number> {
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(roundMs) * 1_000_000n;
  while (process.hrtime.bigint() < end) {
    turn();
    n += perTurn;
    if (socket.writableLength > 1 << 20) await new Promise((resolve) => socket.once('drain', resolve));
    else await new Promise((resolve) => setImmediate(resolve));
  }
  return (n * 1e9) / Number(process.hrtime.bigint() - start);
}

codecRows();
await writeRows();
