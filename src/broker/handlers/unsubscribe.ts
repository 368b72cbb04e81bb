/**
 * UNSUBSCRIBE: exact-match removal of subscriptions and UNSUBACK.
 */
import { MalformedPacketError, ReasonCode, type UnsubscribePacket } from '../../protocol/index.js';
import { malformedTopicFilter } from '../../topic/index.js';
import type { BrokerConnection as Connection } from '../context.js';
import { channels } from '../diagnostics.js';

export function handleUnsubscribe(connection: Connection, packet: UnsubscribePacket): void {
  const { broker } = connection;
  const session = connection.session!;
  for (const filter of packet.topicFilters) {
    // Malformed filters close the connection, as in SUBSCRIBE (5.0: DISCONNECT 0x81), before any is removed
    const malformed = malformedTopicFilter(filter, connection.version === 5);
    if (malformed !== undefined) throw new MalformedPacketError(`UNSUBSCRIBE: ${malformed}`);
  }
  const reasonCodes: number[] = [];
  for (const filter of packet.topicFilters) {
    // [MQTT-3.10.4-1] filters compare character by character; [MQTT-3.10.4-2] no new messages for them
    const removed = broker.removeSubscription(session, filter);
    reasonCodes.push(removed ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted);
  }
  // [MQTT-3.10.4-4] (3.1.1) [MQTT-3.10.4-5] (5.0): UNSUBACK with the same id, even when nothing was removed
  connection.sendAfterCommit({ type: 'unsuback', packetId: packet.packetId, reasonCodes });
  broker.emit('unsubscribed', connection.info, packet.topicFilters);
  if (channels.unsubscribed.hasSubscribers) {
    channels.unsubscribed.publish({ broker, client: connection.info, topicFilters: packet.topicFilters });
  }
}
