/**
 * The client side of bench/idle-connections.ts, run as a child process so that the server's process
 * is measured alone: opens `count` raw TCP sockets to 127.0.0.1:`port`, each from one of `addresses`
 * loopback source addresses (127.0.0.1, 127.0.0.2...; each has its own ephemeral port range), sends
 * an MQTT 3.1.1 CONNECT (clean session, Keep Alive 300 s) and waits for CONNACK. It reports to its
 * parent once every socket has its CONNACK or failed, then holds them idle until told to close.
 *
 *   node dist/bench/idle-clients.js PORT COUNT ADDRESSES FIRST_ADDRESS PREFIX
 */
import { connect, type Socket } from 'node:net';

const [port, count, addresses, firstAddress] = process.argv.slice(2, 6).map(Number) as [number, number, number, number];
const prefix = process.argv[6] ?? 'idle';
/** Handshakes outstanding at once, as mqload's `-c`. */
const CONCURRENCY = 200;
const KEEP_ALIVE_S = 300;

/** MQTT 3.1.1 CONNECT: clean session, Keep Alive 300 s, the given client id. */
function connectPacket(clientId: string): Buffer {
  const id = Buffer.from(clientId);
  const variable = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, KEEP_ALIVE_S >> 8, KEEP_ALIVE_S & 0xff]);
  const remaining = variable.length + 2 + id.length;
  return Buffer.concat([Buffer.from([0x10, remaining]), variable, Buffer.from([id.length >> 8, id.length & 0xff]), id]);
}

const sockets: Socket[] = [];
const errors: Record<string, number> = {};
let started = 0;
let connected = 0;
let failed = 0;
let reported = false;
const startedAt = process.hrtime.bigint();

function report(): void {
  if (reported || connected + failed < count) return;
  reported = true;
  const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
  process.send?.({ connected, failed, errors, seconds });
}

function openNext(): void {
  if (started >= count) return;
  const i = started++;
  const localAddress = `127.0.0.${firstAddress + (i % addresses)}`;
  const socket = connect({ host: '127.0.0.1', port, localAddress, noDelay: true });
  let done = false;
  const finish = (ok: boolean, code?: string): void => {
    if (done) return;
    done = true;
    if (ok) connected++;
    else {
      failed++;
      errors[code ?? 'closed'] = (errors[code ?? 'closed'] ?? 0) + 1;
    }
    report();
    openNext();
  };
  socket.once('connect', () => socket.write(connectPacket(`${prefix}-${i}`)));
  socket.on('data', (chunk: Buffer) => {
    // CONNACK 0x20 with return code 0 (its fourth byte)
    if (chunk[0] === 0x20) finish(chunk[3] === 0, `connack-${chunk[3]}`);
  });
  socket.on('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message));
  socket.on('close', () => finish(false, 'closed'));
  sockets.push(socket);
}

process.on('message', (message: { cmd: string }) => {
  if (message.cmd !== 'close') return;
  for (const socket of sockets) socket.destroy();
  process.exit(0);
});
for (let i = 0; i < Math.min(CONCURRENCY, count); i++) openNext();
if (count === 0) report();
