/**
 * The primary's part of session affinity: it reads a new connection until it has the CONNECT
 * packet (with the protocol's own decoder, as the worker will read it again), then hands the socket
 * and every byte read so far to the worker of its client id. Nothing else of the connection is
 * interpreted here: bytes that are not a valid CONNECT go to any worker, whose decoder answers them
 * as usual.
 */
import type { Socket } from 'node:net';
import { Decoder, type Packet } from '../protocol/index.js';

/** What the primary learnt of a connection's first bytes. */
export interface Opening {
  /** The client id of its CONNECT; undefined: not a CONNECT (or unreadable), `''`: to be assigned. */
  clientId: string | undefined;
  /** Every byte read, to be fed to the worker's connection first. */
  head: Buffer;
}

/** Ends the decoder's feed at the first packet. */
const FIRST = new Error('first packet');

/**
 * Reads `socket` until its first packet is whole (or unreadable), stops reading it, and calls
 * `done`. A connection that sends no whole packet within `timeoutMs` is closed: the connect
 * timeout (`limits.connect_timeout_ms`) a worker would enforce, enforced here before there is one.
 */
export function readOpening(
  socket: Socket,
  timeoutMs: number,
  maximumPacketSize: number,
  done: (opening: Opening) => void,
): void {
  const decoder = new Decoder({ maximumPacketSize });
  const chunks: Buffer[] = [];
  let first: Packet | undefined;
  const collect = (packet: Packet): void => {
    first = packet;
    throw FIRST;
  };
  const finish = (clientId: string | undefined): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    // No byte may be read into this process after the last 'data': the worker reads the rest.
    (socket as unknown as { _handle?: { readStop?: () => number } })._handle?.readStop?.();
    done({ clientId, head: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) });
  };
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    try {
      decoder.feed(chunk, collect);
    } catch (err) {
      if (err !== FIRST) {
        finish(undefined); // malformed or too large: the worker's decoder says so to the client
        return;
      }
    }
    if (first === undefined) return;
    finish(first.type === 'connect' ? first.clientId : undefined);
  };
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  socket.on('data', onData);
  socket.once('close', () => clearTimeout(timer));
  // A reset before the CONNECT is whole: nothing to hand over.
  socket.on('error', () => undefined);
}
