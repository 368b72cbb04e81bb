/**
 * Address helpers of the broker's policies.
 */

/**
 * Whether `address` is a loopback address: 127.0.0.0/8 (also as an IPv4-mapped IPv6 address,
 * `::ffff:127.x.y.z`) or `::1`. Undefined (a transport that does not know) is not.
 */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const lower = address.toLowerCase();
  if (lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true;
  const v4 = lower.startsWith('::ffff:') ? lower.slice('::ffff:'.length) : lower;
  const match = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(v4);
  return match !== null && match.slice(1).every((part) => Number(part) <= 255);
}
