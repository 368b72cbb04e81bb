/**
 * Direct links between workers: each worker listens on a Unix socket in a directory only the user
 * running the broker can enter (made by the primary with mode 0700), and opens one connection to
 * each other worker, on which it writes its batches and reads that worker's acknowledgements of
 * them. No hop through the primary: measured against relaying through its IPC channel in
 * docs/workers.md.
 *
 * Each connection starts with the connecting worker's index (u32), then carries records
 * `[type: u8][seq: u32][length: u32][bytes]`: a batch frame (type 1, connecting side) or an
 * acknowledgement (type 2, length 0, accepting side).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { AckMessage, BatchMessage } from './messages.js';

const BATCH = 1;
const ACK = 2;
const RECORD_HEADER = 9;
/** Pause before connecting again to a worker that does not listen yet, in ms. */
const RETRY_MS = 20;

/** The socket of worker `index` (from 0) in the links directory. */
export function linkPath(dir: string, index: number): string {
  return join(dir, `w${index + 1}.sock`);
}

/** Reads records from a byte stream; `onRecord` gets each whole one. */
class RecordReader {
  private buffered: Buffer = Buffer.alloc(0);

  constructor(private readonly onRecord: (type: number, seq: number, bytes: Buffer) => void) {}

  feed(chunk: Buffer): void {
    let data = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    let at = 0;
    while (data.length - at >= RECORD_HEADER) {
      const length = data.readUInt32BE(at + 5);
      if (data.length - at < RECORD_HEADER + length) break;
      this.onRecord(
        data.readUInt8(at),
        data.readUInt32BE(at + 1),
        data.subarray(at + RECORD_HEADER, at + RECORD_HEADER + length),
      );
      at += RECORD_HEADER + length;
    }
    data = data.subarray(at);
    // A partial record is copied out, so that it does not hold the whole chunk it came in.
    this.buffered = data.length === 0 ? Buffer.alloc(0) : Buffer.from(data);
  }
}

function header(type: number, seq: number, length: number): Buffer {
  const head = Buffer.allocUnsafe(RECORD_HEADER);
  head.writeUInt8(type, 0);
  head.writeUInt32BE(seq, 1);
  head.writeUInt32BE(length, 5);
  return head;
}

/** An outgoing link: queued bytes until connected, retried while the other worker does not listen yet. */
class Outgoing {
  private socket: Socket | undefined;
  private queue: Buffer[] = [];
  private connected = false;

  constructor(
    private readonly path: string,
    private readonly self: number,
    private readonly onAck: (seq: number) => void,
    private readonly onLost: (err: Error) => void,
  ) {
    this.connect();
  }

  write(parts: Buffer[]): void {
    if (!this.connected) {
      for (const part of parts) this.queue.push(part);
      return;
    }
    for (const part of parts) this.socket!.write(part);
  }

  close(): void {
    this.socket?.destroy();
  }

  private connect(): void {
    const socket = createConnection(this.path);
    this.socket = socket;
    socket.setNoDelay?.(true);
    const reader = new RecordReader((type, seq) => {
      if (type === ACK) this.onAck(seq);
    });
    socket.on('data', (chunk: Buffer) => reader.feed(chunk));
    socket.once('connect', () => {
      const hello = Buffer.allocUnsafe(4);
      hello.writeUInt32BE(this.self, 0);
      socket.write(hello);
      for (const part of this.queue) socket.write(part);
      this.queue = [];
      this.connected = true;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!this.connected && (err.code === 'ENOENT' || err.code === 'ECONNREFUSED')) {
        // Not listening yet: the other worker is still starting.
        setTimeout(() => this.connect(), RETRY_MS).unref();
        return;
      }
      this.onLost(err);
    });
  }
}

/** Every link of one worker. */
export class WorkerLinks {
  private readonly server: Server;
  private readonly outgoing: (Outgoing | undefined)[];
  /** The accepted connection of each other worker, on which its batches come and their acknowledgements go. */
  private readonly incoming: (Socket | undefined)[];

  constructor(
    private readonly dir: string,
    private readonly index: number,
    count: number,
    private readonly onMessage: (message: BatchMessage | AckMessage) => void,
    private readonly onLost: (err: Error) => void,
  ) {
    this.outgoing = new Array<Outgoing | undefined>(count).fill(undefined);
    this.incoming = new Array<Socket | undefined>(count).fill(undefined);
    this.server = createServer((socket) => this.accept(socket));
    // Connecting needs only the others' sockets (retried until they listen), not this one's.
    for (let peer = 0; peer < count; peer++) {
      if (peer === this.index) continue;
      this.outgoing[peer] = new Outgoing(
        linkPath(this.dir, peer),
        this.index,
        (seq) => this.onMessage({ t: 'ack', peer, seq }),
        this.onLost,
      );
    }
  }

  /** Listens on this worker's socket, for the links of the others. */
  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(linkPath(this.dir, this.index), () => resolve());
    });
  }

  /** Sends a batch on the link to its target, or an acknowledgement on the link from its sender. */
  send(message: BatchMessage | AckMessage): void {
    if (message.t === 'batch') {
      const frame = message.frame as Buffer;
      this.outgoing[message.peer]?.write([header(BATCH, message.seq, frame.length), frame]);
      return;
    }
    this.incoming[message.peer]?.write(header(ACK, message.seq, 0));
  }

  close(): void {
    this.server.close();
    for (const link of this.outgoing) link?.close();
    for (const socket of this.incoming) socket?.destroy();
  }

  private accept(socket: Socket): void {
    let peer = -1;
    let head = Buffer.alloc(0);
    const reader = new RecordReader((type, seq, bytes) => {
      if (type === BATCH) this.onMessage({ t: 'batch', peer, seq, frame: bytes });
    });
    socket.on('error', (err) => this.onLost(err));
    socket.on('data', (chunk: Buffer) => {
      if (peer < 0) {
        // The first four bytes name the worker at the other end.
        head = Buffer.concat([head, chunk]);
        if (head.length < 4) return;
        peer = head.readUInt32BE(0);
        this.incoming[peer] = socket;
        chunk = head.subarray(4);
      }
      if (chunk.length > 0) reader.feed(chunk);
    });
  }
}
