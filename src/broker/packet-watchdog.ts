/**
 * packetTimeoutMs of one connection: a packet whose first bytes arrived must be complete within the
 * limit (a slow-loris defence, whatever the Keep Alive). Time the broker itself spends not reading
 * (throttling, a handler's backlog, backpressure) is not held against the client.
 */
export class PacketWatchdog {
  /** When the partial packet held by the decoder started to arrive (ms); undefined when none. */
  private since: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  /**
   * `paused` tells whether the broker is not reading the socket now; `expired` is called once when a
   * partial packet stalled for `timeoutMs`.
   */
  constructor(
    private readonly timeoutMs: number,
    private readonly paused: () => boolean,
    private readonly expired: () => void,
  ) {}

  /**
   * After a chunk was decoded at `now`: `buffered` bytes of a partial packet are left, and `decoded`
   * packets completed in the chunk (then the partial one left started in it too).
   */
  chunkDecoded(now: number, buffered: number, decoded: number): void {
    if (buffered === 0) this.since = undefined;
    else if (this.since === undefined || decoded > 0) this.arm(now);
  }

  /** Stops the watch: the connection has closed. */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.since = undefined;
  }

  private arm(since: number): void {
    this.since = since;
    if (this.timer !== undefined) return;
    const check = (): void => {
      this.timer = undefined;
      let started = this.since;
      if (started === undefined) return;
      if (this.paused()) started = this.since = Date.now();
      const waited = Date.now() - started;
      if (waited >= this.timeoutMs) {
        this.expired();
        return;
      }
      this.timer = setTimeout(check, this.timeoutMs - waited);
    };
    this.timer = setTimeout(check, this.timeoutMs);
  }
}
