/**
 * The package's public surface: `package.json` `exports` maps `fennec-mqtt`, `fennec-mqtt/codec`,
 * `fennec-mqtt/store`, `fennec-mqtt/client` and `fennec-mqtt/http` to the modules they promise. Node lets a package import itself by name
 * through its `exports`, so these imports go exactly where an installed package's users go.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as root from 'fennec-mqtt';
import * as codec from 'fennec-mqtt/codec';
import * as store from 'fennec-mqtt/store';
import * as client from 'fennec-mqtt/client';
import * as http from 'fennec-mqtt/http';
import * as internalRoot from '../../src/index.js';
import * as internalCodec from '../../src/protocol/index.js';
import * as internalStore from '../../src/store/index.js';
import * as internalClient from '../../src/client/index.js';
import * as internalHttp from '../../src/http/index.js';
import { AdminServer } from '../../src/http/server.js';
import { connect, MqttClient } from '../../src/client/client.js';
import { MqttClientError } from '../../src/client/errors.js';
import { Broker } from '../../src/broker/broker.js';
import { FennecError, errorCodes } from '../../src/errors/index.js';
import { Decoder } from '../../src/protocol/decoder.js';
import { encode } from '../../src/protocol/encoder.js';
import { ReasonCode } from '../../src/protocol/constants.js';
import { MalformedPacketError } from '../../src/protocol/errors.js';
import { MemoryStore } from '../../src/store/memory.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { SqliteWorkerStore } from '../../src/store/sqlite-thread.js';
import { storeConformance } from '../../src/store/conformance.js';
import * as records from '../../src/store/conformance-records.js';

interface ExportTarget {
  types: string;
  default: string;
}

const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as {
  name: string;
  main: string;
  types: string;
  exports: Record<string, ExportTarget>;
};

describe('package exports', () => {
  it('package.json exports ".", "./codec", "./store", "./client" and "./http", each with types first and default, files that exist', () => {
    assert.equal(manifest.name, 'fennec-mqtt');
    assert.deepEqual(Object.keys(manifest.exports), ['.', './codec', './store', './client', './http']);
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      // TypeScript takes the first condition that matches: `types` must come before `default`.
      assert.deepEqual(Object.keys(target), ['types', 'default'], `conditions of ${subpath}`);
      assert.ok(existsSync(target.types), `${subpath}: ${target.types} exists`);
      assert.ok(existsSync(target.default), `${subpath}: ${target.default} exists`);
    }
    assert.equal(manifest.main, manifest.exports['.']!.default);
    assert.equal(manifest.types, manifest.exports['.']!.types);
  });

  it('fennec-mqtt/http is the HTTP listener of a broker: AdminServer (metrics, health, admin API)', () => {
    assert.equal(http, internalHttp);
    assert.equal(http.AdminServer, AdminServer);
  });

  it('fennec-mqtt is the package entry point: the Broker, the built-in hooks and the error code table', () => {
    assert.equal(root, internalRoot);
    assert.equal(root.Broker, Broker);
    assert.equal(root.FennecError, FennecError);
    assert.equal(root.errorCodes, errorCodes);
    assert.equal(typeof root.PasswordFile.load, 'function');
    assert.equal(typeof root.Acl.load, 'function');
    assert.equal(typeof root.aclHooks, 'function');
  });

  it('fennec-mqtt/codec is the codec: Decoder, encode, reason codes and the errors', () => {
    assert.equal(codec, internalCodec);
    assert.equal(codec.Decoder, Decoder);
    assert.equal(codec.encode, encode);
    assert.equal(codec.ReasonCode, ReasonCode);
    assert.equal(codec.MalformedPacketError, MalformedPacketError);
    assert.equal(codec.FennecError, FennecError);
  });

  it('fennec-mqtt/store is the Store seam: MemoryStore, SqliteStore, SqliteWorkerStore and the conformance suite', () => {
    assert.equal(store, internalStore);
    assert.equal(store.MemoryStore, MemoryStore);
    assert.equal(store.SqliteStore, SqliteStore);
    assert.equal(store.SqliteWorkerStore, SqliteWorkerStore);
    assert.equal(store.storeConformance, storeConformance);
    assert.equal(store.storeRecords.delivery, records.delivery);
  });

  it('fennec-mqtt/client is the client library: connect, MqttClient and its error, a FennecError', () => {
    assert.equal(client, internalClient);
    assert.equal(client.connect, connect);
    assert.equal(client.MqttClient, MqttClient);
    assert.equal(client.MqttClientError, MqttClientError);
    assert.ok(new client.MqttClientError('ERR_CLIENT_CLOSED', 'x') instanceof FennecError);
  });

  it('the types embedders need come with the values: a MemoryStore is a Store for BrokerOptions', () => {
    const memory = new store.MemoryStore();
    const options: root.BrokerOptions = { store: memory satisfies store.Store };
    const code: root.FennecErrorCode = 'ERR_STORE_FULL';
    const packet: codec.Packet = { type: 'pingreq' };
    assert.equal(options.store, memory);
    assert.equal(errorCodes[code], root.errorCodes.ERR_STORE_FULL);
    assert.deepEqual(codec.encode(packet, 4), Buffer.from([0xc0, 0x00]));
  });
});
