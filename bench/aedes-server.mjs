// An Aedes broker for the side-by-side benchmark when the mqload tools are not beside the checkout:
// node bench/aedes-server.mjs PORT. Aedes comes from this repository's dev dependencies (or
// $AEDES_DIR/node_modules/aedes when set). Listens on 127.0.0.1 only; SIGTERM or SIGINT stops it.
import { createServer } from 'node:net';
import { setTimeout } from 'node:timers';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const port = Number(process.argv[2] ?? 18831);
const { Aedes } =
  process.env.AEDES_DIR === undefined
    ? await import('aedes')
    : await import(pathToFileURL(join(process.env.AEDES_DIR, 'node_modules/aedes/aedes.js')).href);
const aedes = await Aedes.createBroker();
const server = createServer(aedes.handle);
server.listen(port, '127.0.0.1', () => console.log(`aedes listening on 127.0.0.1:${port}`));
server.on('error', (err) => {
  console.error('aedes-server:', err.message);
  process.exit(1);
});
const stop = () => {
  server.close();
  aedes.close(() => process.exit(0));
  // Open client connections would keep the process alive: the runner waits 5 s at most.
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
