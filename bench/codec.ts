/**
 * Codec benchmark: Fennec's decoder and encoder against mqtt-packet (the codec of MQTT.js and
 * Aedes), in one run, in packets per second. Figures only, no assertions.
 *
 *   npm run build && node dist/bench/codec.js [--quick] [--only=encode]
 *
 * Each measurement warms up, then times both codecs in alternating rounds and reports medians. Decoding is
 * measured three ways: a buffer of 1000 concatenated packets fed at once, one packet per chunk, and
 * the same 1000 packets cut into 16 KiB reads, so that packets straddle chunks as on a socket.
 */
import mqttPacket from 'mqtt-packet';
import { Decoder, encode, type Packet, type ProtocolVersion } from '../src/protocol/index.js';

const quick = process.argv.includes('--quick');
/** `--only=<text>`: run only the cases and operations whose name contains the text (for profiling). */
const only = process.argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length);
/** Warm-up before the timed rounds, in milliseconds. */
const warmupMs = quick ? 50 : 150;
/** Length of one timed round of one side, in milliseconds. */
const roundMs = quick ? 40 : 80;
/** Timed rounds per measurement and side; medians are reported. */
const rounds = quick ? 3 : 7;
/** Packets per decoded buffer. */
const batch = 1000;
/** Size of the chunks a stream of packets is cut into, like socket reads, in bytes. */
const readSize = 16 * 1024;

interface Case {
  name: string;
  version: ProtocolVersion;
  fennec: Packet;
  mqttPacket: mqttPacket.Packet;
}

const topic = 'sensors/device-042/temperature';

function publishCase(name: string, version: ProtocolVersion, size: number, withProperties: boolean): Case {
  const payload = Buffer.alloc(size, 0x61);
  const fennec: Packet = {
    type: 'publish',
    topic,
    payload,
    qos: 1,
    retain: false,
    dup: false,
    packetId: 42,
    ...(withProperties
      ? {
          properties: {
            messageExpiryInterval: 3600,
            contentType: 'application/json',
            userProperties: [['trace-id', '4bf92f3577b34da6']],
          },
        }
      : {}),
  };
  const mp: mqttPacket.IPublishPacket = {
    cmd: 'publish',
    topic,
    payload,
    qos: 1,
    retain: false,
    dup: false,
    messageId: 42,
    ...(withProperties
      ? {
          properties: {
            messageExpiryInterval: 3600,
            contentType: 'application/json',
            userProperties: { 'trace-id': '4bf92f3577b34da6' },
          },
        }
      : {}),
  };
  return { name, version, fennec, mqttPacket: mp };
}

function subscribeCase(name: string, version: ProtocolVersion): Case {
  const filters = ['home/+/temperature', 'home/kitchen/#', '$SYS/broker/load/#'];
  const v5 = version === 5;
  return {
    name,
    version,
    fennec: {
      type: 'subscribe',
      packetId: 7,
      subscriptions: filters.map((topicFilter, i) => ({
        topicFilter,
        qos: (i % 3) as 0 | 1 | 2,
        noLocal: v5 && i === 1,
        retainAsPublished: false,
        retainHandling: 0,
      })),
      ...(v5 ? { properties: { subscriptionIdentifier: 12 } } : {}),
    },
    mqttPacket: {
      cmd: 'subscribe',
      messageId: 7,
      subscriptions: filters.map((t, i) =>
        v5
          ? { topic: t, qos: (i % 3) as 0 | 1 | 2, nl: i === 1, rap: false, rh: 0 }
          : { topic: t, qos: (i % 3) as 0 | 1 | 2 },
      ),
      ...(v5 ? { properties: { subscriptionIdentifier: 12 } } : {}),
    },
  };
}

const cases: Case[] = [
  publishCase('PUBLISH 64 B, 3.1.1', 4, 64, false),
  publishCase('PUBLISH 1 KiB, 3.1.1', 4, 1024, false),
  publishCase('PUBLISH 64 B, 5.0 + props', 5, 64, true),
  publishCase('PUBLISH 1 KiB, 5.0 + props', 5, 1024, true),
  subscribeCase('SUBSCRIBE 3 filters, 3.1.1', 4),
  subscribeCase('SUBSCRIBE 3 filters, 5.0', 5),
];

/** Runs `op` (which handles `perCall` packets) for about `ms` milliseconds; returns packets per second. */
function rate(op: () => void, perCall: number, ms: number): number {
  const deadline = process.hrtime.bigint() + BigInt(ms) * 1_000_000n;
  const start = process.hrtime.bigint();
  let calls = 0;
  let now = start;
  do {
    for (let i = 0; i < 16; i++) op();
    calls += 16;
    now = process.hrtime.bigint();
  } while (now < deadline);
  return (calls * perCall) / (Number(now - start) / 1e9);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

/** Keeps results observable so the work cannot be optimised away. */
let sink = 0;

function fennecDecoder(version: ProtocolVersion): (chunk: Buffer) => void {
  const decoder = new Decoder({ protocolVersion: version });
  const onPacket = (packet: Packet): void => {
    sink += packet.type.length;
  };
  return (chunk) => decoder.feed(chunk, onPacket);
}

function mqttPacketDecoder(version: ProtocolVersion): (chunk: Buffer) => void {
  const parser = mqttPacket.parser({ protocolVersion: version });
  parser.on('packet', (packet: mqttPacket.Packet) => {
    sink += packet.cmd.length;
  });
  parser.on('error', (err: unknown) => {
    throw err instanceof Error ? err : new Error(String(err));
  });
  return (chunk) => {
    parser.parse(chunk);
  };
}

interface Row {
  name: string;
  operation: string;
  fennec: number;
  other: number;
  ratio: number;
  /** Encode only: allocating a buffer of the packet's size and copying its bytes in, the least any encoder does. */
  floor: number | undefined;
}

const rows: Row[] = [];

/**
 * Measures both sides in alternating rounds (Fennec first in even rounds, mqtt-packet first in odd
 * ones), so that load from other processes falls on both alike; the ratio is the median of the
 * per-round ratios.
 */
function compare(
  c: Case,
  operation: string,
  fennecOp: () => void,
  otherOp: () => void,
  perCall: number,
  floorOp?: () => void,
): void {
  if (only !== undefined && !`${c.name} ${operation}`.includes(only)) return;
  rate(fennecOp, perCall, warmupMs);
  rate(otherOp, perCall, warmupMs);
  const fennec: number[] = [];
  const other: number[] = [];
  const floor: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < rounds; i++) {
    let f: number;
    let o: number;
    if (i % 2 === 0) {
      f = rate(fennecOp, perCall, roundMs);
      o = rate(otherOp, perCall, roundMs);
    } else {
      o = rate(otherOp, perCall, roundMs);
      f = rate(fennecOp, perCall, roundMs);
    }
    if (floorOp !== undefined) floor.push(rate(floorOp, perCall, roundMs));
    fennec.push(f);
    other.push(o);
    ratios.push(f / o);
  }
  rows.push({
    name: c.name,
    operation,
    fennec: median(fennec),
    other: median(other),
    ratio: median(ratios),
    floor: floorOp === undefined ? undefined : median(floor),
  });
  process.stdout.write(`  ${c.name.padEnd(28)} ${operation.padEnd(22)} done\n`);
}

function check(c: Case): void {
  // Both sides must read each other's bytes, or the comparison is meaningless.
  const ours = encode(c.fennec, c.version);
  const theirs = mqttPacket.generate(c.mqttPacket, { protocolVersion: c.version });
  let ourCount = 0;
  const decoder = new Decoder({ protocolVersion: c.version });
  decoder.feed(Buffer.concat([ours, theirs]), () => ourCount++);
  if (ourCount !== 2) throw new Error(`${c.name}: Fennec decoded ${ourCount} of 2 packets`);
  let theirCount = 0;
  const parser = mqttPacket.parser({ protocolVersion: c.version });
  parser.on('packet', () => theirCount++);
  parser.on('error', (err: unknown) => {
    throw err instanceof Error ? err : new Error(String(err));
  });
  parser.parse(Buffer.concat([ours, theirs]));
  if (theirCount !== 2) throw new Error(`${c.name}: mqtt-packet decoded ${theirCount} of 2 packets`);
}

function main(): void {
  const started = Date.now();
  console.log(
    `codec benchmark: Node ${process.version}, ${rounds} alternating rounds of ${roundMs} ms per side after ${warmupMs} ms warm-up; medians`,
  );
  for (const c of cases) {
    check(c);
    const wire = encode(c.fennec, c.version);
    const stream = Buffer.concat(Array.from({ length: batch }, () => wire));
    // Separate copies, as a socket would hand them over.
    const chunks = Array.from({ length: batch }, () => Buffer.from(wire));

    const fennecBatch = fennecDecoder(c.version);
    const otherBatch = mqttPacketDecoder(c.version);
    compare(
      c,
      `decode ${batch} per chunk`,
      () => fennecBatch(stream),
      () => otherBatch(stream),
      batch,
    );

    const fennecOne = fennecDecoder(c.version);
    const otherOne = mqttPacketDecoder(c.version);
    compare(
      c,
      'decode 1 per chunk',
      () => {
        for (const chunk of chunks) fennecOne(chunk);
      },
      () => {
        for (const chunk of chunks) otherOne(chunk);
      },
      batch,
    );

    // Socket-sized reads: packets straddle the chunk boundaries, as on a real connection.
    const reads: Buffer[] = [];
    for (let i = 0; i < stream.length; i += readSize) reads.push(stream.subarray(i, i + readSize));
    const fennecReads = fennecDecoder(c.version);
    const otherReads = mqttPacketDecoder(c.version);
    compare(
      c,
      `decode ${readSize / 1024} KiB reads`,
      () => {
        for (const read of reads) fennecReads(read);
      },
      () => {
        for (const read of reads) otherReads(read);
      },
      batch,
    );

    const opts = { protocolVersion: c.version };
    compare(
      c,
      'encode',
      () => {
        for (let i = 0; i < 100; i++) sink += encode(c.fennec, c.version).length;
      },
      () => {
        for (let i = 0; i < 100; i++) sink += mqttPacket.generate(c.mqttPacket, opts).length;
      },
      100,
      () => {
        for (let i = 0; i < 100; i++) {
          const copy = Buffer.allocUnsafe(wire.length);
          copy.set(wire);
          sink += copy.length;
        }
      },
    );
  }

  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(13);
  console.log('');
  console.log(
    `${'case'.padEnd(28)} ${'operation'.padEnd(22)} ${'Fennec pkt/s'.padStart(13)} ${'mqtt-packet pkt/s'.padStart(18)} ${'Fennec/mqtt-packet'.padStart(18)}   ${'alloc+copy floor'.padStart(16)}`,
  );
  for (const r of rows) {
    const floor =
      r.floor === undefined
        ? ''
        : `${fmt(r.floor).padStart(16)} (Fennec at ${Math.round((100 * r.fennec) / r.floor)}%)`;
    console.log(
      `${r.name.padEnd(28)} ${r.operation.padEnd(22)} ${fmt(r.fennec)} ${fmt(r.other).padStart(18)} ${`${r.ratio.toFixed(2)}x`.padStart(18)}   ${floor}`,
    );
  }
  console.log('');
  console.log(
    'alloc+copy floor: Buffer.allocUnsafe(size) and one copy of the encoded bytes, the least an encoder returning a fresh buffer does.',
  );
  console.log('');
  console.log(`total ${((Date.now() - started) / 1000).toFixed(1)} s (checksum ${sink % 1000})`);
}

main();
