/** A pino logger whose JSON lines a test reads back. */
import { Writable } from 'node:stream';
import { pino, type Level, type Logger } from 'pino';

/** A logger at `level` (default warn) collecting each line parsed (`lines`) and as written (`raw`). */
export function capturingLogger(level: Level = 'warn'): {
  logger: Logger;
  lines: Record<string, unknown>[];
  raw: string[];
} {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.length === 0) continue;
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: pino({ level }, stream), lines, raw };
}
