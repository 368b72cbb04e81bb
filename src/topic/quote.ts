/** `topic` quoted for a log line or Reason String, cut to 80 characters: a topic can be 65,535 bytes. */
export function quoteTopic(topic: string): string {
  return JSON.stringify(topic.length > 80 ? `${topic.slice(0, 80)}...` : topic);
}
