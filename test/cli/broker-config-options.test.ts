// `fennec broker --config FILE` passes every option of the file to the broker: a 5.0 client learns
// the keep alive set by `max_keepalive` (Mosquitto's name for `server_keep_alive`) from CONNACK.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { temporaryConfigFiles } from '../helpers/config-files.js';
import { destroyAllClients, RawClient } from '../helpers/raw-client.js';
import { killAllPrograms, runProgram } from '../interop/support.js';
import { cliEnvironment as environment, fennecBin as fennec } from '../helpers/cli.js';

/** Longest the broker may run in these tests before it is killed, in ms. */
const PROCESS_TIMEOUT_MS = 10_000;

const configFiles = temporaryConfigFiles('fennec-config-options-');

void describe('fennec broker --config', () => {
  after(async () => {
    destroyAllClients();
    await killAllPrograms();
  });

  for (const key of ['server_keep_alive', 'max_keepalive']) {
    void it(`[MQTT-3.2.2-21] sends a 5.0 client the Server Keep Alive of ${key} in CONNACK`, async () => {
      const path = configFiles.write(['host: 127.0.0.1', 'port: 0', 'log_level: silent', `${key}: 30`]);
      const broker = runProgram(
        process.execPath,
        [fennec, 'broker', '--config', path],
        PROCESS_TIMEOUT_MS,
        environment,
      );
      const [line] = await broker.waitForLines(1);
      const port = Number(/listening mqtt:\/\/127\.0\.0\.1:(\d+)$/.exec(line ?? '')?.[1]);
      assert.ok(port > 0, `unexpected first line: ${line}; stderr: ${broker.stderr()}`);
      const client = await RawClient.connect(port, { version: 5, clientId: `keep-alive-${key}`, keepAlive: 600 });
      assert.equal(client.connack.properties.serverKeepAlive, 30);
      client.destroy();
      broker.child.kill('SIGTERM');
      assert.equal((await broker.exited).code, 0, broker.stderr());
    });
  }
});
