/**
 * Cursor over one packet body, with the primitive reads of MQTT's data representations
 * (section 1.5 of both standards). Every read checks bounds and throws MalformedPacketError,
 * so no input can raise a RangeError or TypeError.
 */
import { isUtf8 } from 'node:buffer';
import { MalformedPacketError } from './errors.js';

export class Reader {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  end = 0;

  /** Points the cursor at `buf[start, end)`. */
  reset(buf: Buffer, start: number, end: number): void {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.end) throw new MalformedPacketError(`packet ends inside ${what}`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const value = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return value;
  }

  u32(what: string): number {
    this.need(4, what);
    const value = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return value;
  }

  /** A Variable Byte Integer: at most four bytes, minimally encoded [MQTT-1.5.5-1]. */
  varint(what: string): number {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 4; i++) {
      this.need(1, what);
      const byte = this.buf[this.pos++]!;
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) {
        // [MQTT-1.5.5-1] a trailing zero byte means the value was not minimally encoded
        if (byte === 0 && i > 0) throw new MalformedPacketError(`${what} is not minimally encoded`);
        return value;
      }
      multiplier *= 128;
    }
    throw new MalformedPacketError(`${what} is longer than four bytes`);
  }

  /** Two-byte length followed by that many bytes, returned as a view (no copy). */
  binary(what: string): Buffer {
    const length = this.u16(`the length of ${what}`);
    this.need(length, what);
    const start = this.pos;
    this.pos += length;
    return this.buf.subarray(start, this.pos);
  }

  /**
   * A UTF-8 Encoded String: well-formed, no surrogates [MQTT-1.5.3-1] [MQTT-1.5.4-1] and no
   * U+0000 [MQTT-1.5.3-2] [MQTT-1.5.4-2]. A leading BOM (EF BB BF) is kept [MQTT-1.5.4-3].
   */
  string(what: string): string {
    const length = this.u16(`the length of ${what}`);
    this.need(length, what);
    const buf = this.buf;
    const start = this.pos;
    const end = start + length;
    this.pos = end;
    let ascii = true;
    for (let i = start; i < end; i++) {
      const byte = buf[i]!;
      if (byte === 0) throw new MalformedPacketError(`${what} contains U+0000`);
      if (byte >= 0x80) ascii = false;
    }
    if (ascii) return buf.toString('latin1', start, end);
    if (!isUtf8(buf.subarray(start, end))) throw new MalformedPacketError(`${what} is not well-formed UTF-8`);
    return buf.toString('utf8', start, end);
  }

  /** The rest of the body, as a view. */
  rest(): Buffer {
    const view = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return view;
  }

  /** Throws when bytes are left over after the last field. */
  expectEnd(what: string): void {
    if (this.pos !== this.end) throw new MalformedPacketError(`${this.end - this.pos} unexpected bytes after ${what}`);
  }
}
