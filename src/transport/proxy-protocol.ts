/**
 * The PROXY protocol, versions 1 (text) and 2 (binary), as HAProxy specifies it
 * (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt): a proxy or load balancer in front of
 * a TCP listener starts each connection with a header naming the client's address, before any MQTT
 * byte. Only listeners that trust a proxy read it, and there every connection must start with one.
 */
import { isIPv4, isIPv6, type Socket } from 'node:net';

/** The v2 signature: `\r\n\r\n\0\r\nQUIT\n`. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** The longest v1 line, CRLF included (section 2.1). */
const V1_MAX_LENGTH = 107;
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');

/** The client's address as the proxy saw it. */
export interface ProxiedAddress {
  remoteAddress: string;
  remotePort: number;
}

/** A header that is not the PROXY protocol, or not a valid one. */
export class ProxyHeaderError extends Error {}

/**
 * What the first bytes of a connection hold: not enough yet (`incomplete`), or a whole header of
 * `length` bytes and the client's address (undefined for a proxy's own health check, v2 LOCAL, or
 * an address family it does not name: v1 UNKNOWN, v2 UNSPEC and UNIX).
 * @throws ProxyHeaderError when the bytes cannot start a valid header.
 */
export function parseProxyHeader(
  bytes: Buffer,
): 'incomplete' | { length: number; address: ProxiedAddress | undefined } {
  if (bytes.length === 0) return 'incomplete';
  if (bytes[0] === V1_PREFIX[0]) return parseV1(bytes);
  if (bytes[0] === V2_SIGNATURE[0]) return parseV2(bytes);
  throw new ProxyHeaderError('the connection does not start with a PROXY protocol header');
}

function parseV1(bytes: Buffer): 'incomplete' | { length: number; address: ProxiedAddress | undefined } {
  const prefix = bytes.subarray(0, V1_PREFIX.length);
  if (!V1_PREFIX.subarray(0, prefix.length).equals(prefix)) {
    throw new ProxyHeaderError('the connection does not start with a PROXY protocol header');
  }
  const end = bytes.subarray(0, V1_MAX_LENGTH).indexOf('\r\n');
  if (end < 0) {
    if (bytes.length >= V1_MAX_LENGTH) throw new ProxyHeaderError('PROXY v1 header longer than 107 bytes');
    return 'incomplete';
  }
  const fields = bytes.subarray(0, end).toString('latin1').split(' ');
  const length = end + 2;
  if (fields[1] === 'UNKNOWN') return { length, address: undefined };
  const [, family, source, , sourcePort, destinationPort] = fields;
  const valid = family === 'TCP4' ? isIPv4 : family === 'TCP6' ? isIPv6 : undefined;
  if (fields.length !== 6 || valid === undefined || source === undefined || !valid(source)) {
    throw new ProxyHeaderError(`bad PROXY v1 header: ${JSON.stringify(fields.join(' '))}`);
  }
  const port = portOf(sourcePort);
  if (port === undefined || portOf(destinationPort) === undefined) {
    throw new ProxyHeaderError(`bad PROXY v1 header port: ${JSON.stringify(fields.join(' '))}`);
  }
  return { length, address: { remoteAddress: source, remotePort: port } };
}

function portOf(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65_535 ? port : undefined;
}

function parseV2(bytes: Buffer): 'incomplete' | { length: number; address: ProxiedAddress | undefined } {
  const signature = bytes.subarray(0, V2_SIGNATURE.length);
  if (!V2_SIGNATURE.subarray(0, signature.length).equals(signature)) {
    throw new ProxyHeaderError('the connection does not start with a PROXY protocol header');
  }
  if (bytes.length < 16) return 'incomplete';
  const versionCommand = bytes[12]!;
  if (versionCommand >> 4 !== 2) throw new ProxyHeaderError(`PROXY v2 header of version ${versionCommand >> 4}`);
  const command = versionCommand & 0x0f;
  const family = bytes[13]! >> 4;
  const addressLength = bytes.readUInt16BE(14);
  const length = 16 + addressLength;
  if (bytes.length < length) return 'incomplete';
  // LOCAL: the proxy's own connection (a health check); the socket's address is the truth
  if (command === 0x0) return { length, address: undefined };
  if (command !== 0x1) throw new ProxyHeaderError(`PROXY v2 header with command ${command}`);
  const body = bytes.subarray(16, length);
  if (family === 0x1) {
    if (addressLength < 12) throw new ProxyHeaderError('PROXY v2 IPv4 addresses cut short');
    return { length, address: { remoteAddress: [...body.subarray(0, 4)].join('.'), remotePort: body.readUInt16BE(8) } };
  }
  if (family === 0x2) {
    if (addressLength < 36) throw new ProxyHeaderError('PROXY v2 IPv6 addresses cut short');
    return { length, address: { remoteAddress: formatIPv6(body.subarray(0, 16)), remotePort: body.readUInt16BE(32) } };
  }
  return { length, address: undefined };
}

/** 16 bytes as Node writes an IPv6 address (`2001:db8::1`), via the URL parser's canonical form. */
function formatIPv6(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1);
}

/**
 * Reads the PROXY header at the start of `socket`, then leaves the socket paused with every byte
 * after the header unread, for whoever takes it next (who calls `resume()`). Resolves with the
 * client's address, or undefined when the header names none.
 * @throws ProxyHeaderError on a bad header, on none within `timeoutMs`, or when the socket closes first.
 */
export function readProxyHeader(socket: Socket, timeoutMs: number): Promise<ProxiedAddress | undefined> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    const finish = (): void => {
      clearTimeout(timer);
      socket.pause();
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', fail);
    };
    const fail = (err: Error): void => {
      finish();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      let header: ReturnType<typeof parseProxyHeader>;
      try {
        header = parseProxyHeader(buffered);
      } catch (err) {
        fail(err as Error);
        return;
      }
      if (header === 'incomplete') return;
      finish();
      const rest = buffered.subarray(header.length);
      if (rest.length > 0) socket.unshift(rest);
      resolve(header.address);
    };
    const onClose = (): void => fail(new ProxyHeaderError('the connection closed before its PROXY header'));
    const timer = setTimeout(() => fail(new ProxyHeaderError(`no PROXY header within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    // A reset before the header is that connection's end, not the process's.
    socket.on('error', fail);
  });
}
