/**
 * The messages of one stream entry. A publishing node appends the messages of one turn of the event
 * loop for one target node as a single entry (one XADD, not one per message), so an entry holds one
 * or more messages, each as the field `i` (its message id), then `m` (the encoded message) and, when
 * the target serves shared groups for it, `g` (`$share/G/F` filters split by U+0000); `s`: the one
 * session it is for (forwarded during a hand-over); `h`: passed on by that many nodes, for the groups
 * of `g` alone. Redis keeps a stream entry's fields in order, repeated names included.
 */

/** One message of a stream entry, its fields as they came (no string made until needed). */
export interface EntryMessage {
  id: Buffer;
  bytes: Buffer;
  /** The shared groups the receiving node serves for it; undefined: none. */
  groups: Buffer | undefined;
  /** The one session it is for; undefined: the node's routes. */
  target: Buffer | undefined;
  /** How many nodes passed it on (a decimal number); undefined: none. */
  hops: Buffer | undefined;
}

/** The field names, one byte each. */
const I = 0x69;
const M = 0x6d;
const G = 0x67;
const S = 0x73;
const H = 0x68;

const isField = (key: Buffer, name: number): boolean => key.length === 1 && key[0] === name;

/** The messages of an entry's fields, in order; a message without `m` is skipped. */
export function entryMessages(fields: readonly Buffer[] | null): EntryMessage[] {
  const out: EntryMessage[] = [];
  if (fields === null) return out;
  let current: Partial<EntryMessage> | undefined;
  const close = (): void => {
    if (current?.id !== undefined && current.bytes !== undefined) {
      out.push({
        id: current.id,
        bytes: current.bytes,
        groups: current.groups,
        target: current.target,
        hops: current.hops,
      });
    }
  };
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const key = fields[i]!;
    const value = fields[i + 1]!;
    if (isField(key, I)) {
      close();
      current = { id: value };
    } else if (current !== undefined && isField(key, M)) current.bytes = value;
    else if (current !== undefined && isField(key, G)) current.groups = value;
    else if (current !== undefined && isField(key, S)) current.target = value;
    else if (current !== undefined && isField(key, H)) current.hops = value;
  }
  close();
  return out;
}

/** The shared groups of a `g` field (`$share/G/F`, split by U+0000); undefined without one. */
export function groupsOf(value: Buffer | undefined): Set<string> | undefined {
  return value === undefined || value.length === 0 ? undefined : new Set(value.toString('utf8').split('\u0000'));
}
