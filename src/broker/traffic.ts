/**
 * The broker's traffic counters: packets, bytes and PUBLISH packets in and out, by QoS. Connections
 * add to them as they read and write, with plain integer increments and no allocation, so that
 * $SYS (`sys.ts`) and the metrics of src/http read them when they publish or are scraped instead of
 * the hot path updating anything else.
 */

/** Counts by QoS: index 0, 1 and 2. */
export type ByQoS = [number, number, number];

/** What crossed the broker's connections since it started. */
export interface TrafficCounters {
  /** MQTT packets of every type read from clients. */
  packetsReceived: number;
  /** MQTT packets of every type written to clients. */
  packetsSent: number;
  /** Bytes read from clients' streams, partial packets included. */
  bytesReceived: number;
  /** Bytes of packets written to clients. */
  bytesSent: number;
  /** PUBLISH packets read from clients, by their QoS. */
  publishReceived: ByQoS;
  /** PUBLISH packets written to clients, by their QoS (re-sent ones included). */
  publishSent: ByQoS;
  /** Bytes of those PUBLISH packets, fixed header included, by QoS. */
  publishBytesReceived: ByQoS;
  /** Bytes of those PUBLISH packets, fixed header included, by QoS. */
  publishBytesSent: ByQoS;
}

/** Traffic counters at zero. */
export function emptyTraffic(): TrafficCounters {
  return {
    packetsReceived: 0,
    packetsSent: 0,
    bytesReceived: 0,
    bytesSent: 0,
    publishReceived: [0, 0, 0],
    publishSent: [0, 0, 0],
    publishBytesReceived: [0, 0, 0],
    publishBytesSent: [0, 0, 0],
  };
}

/** Adds the `qos` of a PUBLISH's first byte (bits 1-2) and its size to `count` and `bytes`. */
export function countPublish(first: number, size: number, count: ByQoS, bytes: ByQoS): void {
  const qos = (first >> 1) & 3;
  // A QoS of 3 is malformed and never encoded nor decoded; the check keeps the arrays at three entries.
  if (qos < 3) {
    count[qos as 0 | 1 | 2]++;
    bytes[qos as 0 | 1 | 2] += size;
  }
}
