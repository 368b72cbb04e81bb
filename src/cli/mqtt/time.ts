/**
 * Times in `fennec sub -F` output: `%I`, `%U` and the `@` sequences, which mosquitto hands to
 * strftime(3). The common strftime conversions are done here, in local time.
 */

/** A moment: milliseconds since the epoch and the microseconds and nanoseconds within its second. */
export interface Instant {
  ms: number;
  micros: number;
  nanos: number;
}

/** Now, to the microsecond the platform gives (performance.timeOrigin + performance.now()). */
export function timeOf(): Instant {
  const exact = performance.timeOrigin + performance.now();
  const ms = Math.floor(exact);
  const nanos = Math.floor((exact % 1000) * 1e6);
  return { ms, micros: Math.floor(nanos / 1000), nanos };
}

const two = (n: number): string => String(n).padStart(2, '0');
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** The local offset as strftime's %z: +hhmm. */
function offset(d: Date): string {
  const minutes = -d.getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
}

/** `%I`: ISO 8601 local date and time with the offset, e.g. 2016-08-10T09:47:38+0100. */
export function isoLocal(now: Instant): string {
  const d = new Date(now.ms);
  return `${formatTime('F', now)}T${formatTime('T', now)}${offset(d)}`;
}

/** `%U`: seconds since the epoch and nanoseconds, e.g. 1470818943.786368637. */
export function unixSeconds(now: Instant): string {
  return `${Math.floor(now.ms / 1000)}.${String(now.nanos).padStart(9, '0')}`;
}

/** One `@X` sequence; unknown conversions print as they were written. */
export function formatTime(char: string, now: Instant): string {
  const d = new Date(now.ms);
  const hours12 = d.getHours() % 12 === 0 ? 12 : d.getHours() % 12;
  const startOfYear = new Date(d.getFullYear(), 0, 1);
  const dayOfYear = Math.floor((d.getTime() - startOfYear.getTime()) / 86_400_000) + 1;
  switch (char) {
    case 'Y':
      return String(d.getFullYear());
    case 'y':
      return two(d.getFullYear() % 100);
    case 'm':
      return two(d.getMonth() + 1);
    case 'd':
      return two(d.getDate());
    case 'e':
      return String(d.getDate()).padStart(2, ' ');
    case 'H':
      return two(d.getHours());
    case 'I':
      return two(hours12);
    case 'M':
      return two(d.getMinutes());
    case 'S':
      return two(d.getSeconds());
    case 'p':
      return d.getHours() < 12 ? 'AM' : 'PM';
    case 'j':
      return String(dayOfYear).padStart(3, '0');
    case 'a':
      return DAYS[d.getDay()]!.slice(0, 3);
    case 'A':
      return DAYS[d.getDay()]!;
    case 'b':
      return MONTHS[d.getMonth()]!.slice(0, 3);
    case 'B':
      return MONTHS[d.getMonth()]!;
    case 'F':
      return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
    case 'T':
      return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
    case 's':
      return String(Math.floor(now.ms / 1000));
    case 'z':
      return offset(d);
    case 'Z':
      return (
        Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
          .formatToParts(d)
          .find((p) => p.type === 'timeZoneName')?.value ?? ''
      );
    case 'N':
      return String(now.nanos).padStart(9, '0');
    default:
      return `@${char}`;
  }
}
