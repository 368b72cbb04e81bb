/** Whether a topic matches a filter, for `fennec sub -T`: the broker's rules for `+`, `#` and `$` topics. */
export function topicMatches(filter: string, topic: string): boolean {
  // [MQTT-4.7.2-1]: a filter starting with a wildcard does not match a topic starting with $
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}
