/**
 * What the primary process and the workers of `fennec broker --workers N` tell each other over the
 * IPC channel (advanced serialization: Buffers travel as bytes), and what workers send each other
 * on their links. Workers are numbered from 0 here; logs, node ids and file names count from 1.
 */

/** A batch frame (frame.ts) from one worker to another, on their direct link (links.ts). */
export interface BatchMessage {
  t: 'batch';
  /** The target worker (from a worker) or the sender (from the primary). */
  peer: number;
  /** The sender's sequence number of its batches to this target, from 1. */
  seq: number;
  frame: Uint8Array;
}

/** The target has delivered batch `seq` and its store has committed what it queued from it. */
export interface AckMessage {
  t: 'ack';
  peer: number;
  seq: number;
}

/** A worker is ready for sockets; worker 1 names its HTTP listener when it runs one. */
export interface ReadyMessage {
  t: 'ready';
  http?: { host: string; port: number } | undefined;
}

/** A connection for a worker (its socket goes as the message's handle) with the bytes the primary read. */
export interface SocketMessage {
  t: 'socket';
  listener: string;
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  localAddress: string | undefined;
  head: Uint8Array;
}

/** The primary stops the worker (as SIGTERM would, but only once however many signals came). */
export interface StopMessage {
  t: 'stop';
}

export type FromWorker = ReadyMessage;
export type ToWorker = SocketMessage | StopMessage;

/** The environment variable that makes `fennec broker` a worker: `INDEX/COUNT`, INDEX from 0. */
export const WORKER_ENV = 'FENNEC_WORKER';
/** The directory of the workers' link sockets (links.ts), made by the primary, mode 0700. */
export const LINKS_ENV = 'FENNEC_WORKER_LINKS';

/** As a Buffer, without a copy (IPC may hand a Uint8Array). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
