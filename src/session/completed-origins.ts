/**
 * The cluster ids (Message.originId) of the messages that sessions completed lately: shared by the
 * sessions of one broker, bounded, the oldest forgotten first. A node of a cluster may be handed a
 * copy of a message a session had already (the node a session left forwards what its stream held
 * for it, not knowing that the publisher's node sent it where the session is too): a copy that
 * comes once the session completed the message is known here (see Session.holdsOrigin).
 */

/** How many (session, message) pairs are kept by default: ~5 MB at most. */
export const COMPLETED_KEPT = 65_536;

export class CompletedOrigins {
  private readonly keys = new Set<string>();

  constructor(readonly capacity = COMPLETED_KEPT) {}

  /** The session of `clientId` completed the message of cluster id `originId`. */
  add(clientId: string, originId: string): void {
    const key = `${clientId}\n${originId}`;
    if (this.keys.has(key)) return;
    this.keys.add(key);
    if (this.keys.size > this.capacity) this.keys.delete(this.keys.values().next().value!);
  }

  /** Whether the session of `clientId` completed the message of cluster id `originId` lately. */
  has(clientId: string, originId: string): boolean {
    return this.keys.has(`${clientId}\n${originId}`);
  }

  get size(): number {
    return this.keys.size;
  }
}
