/**
 * The store conformance suite (src/store/conformance.ts, shipped as `fennec-mqtt/store`) against
 * every Store implementation.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MemoryStore,
  SqliteStore,
  SqliteWorkerStore,
  DeliveryState,
  storeConformance,
  storeRecords,
  type Durability,
} from '../../src/store/index.js';

storeConformance('MemoryStore', () => Promise.resolve({ store: new MemoryStore() }));

const sqliteStores = { SqliteStore, SqliteWorkerStore } as const;

for (const [name, Sqlite] of Object.entries(sqliteStores)) {
  for (const durability of ['process', 'power'] as const satisfies readonly Durability[]) {
    storeConformance(
      `${name} (durability ${durability})`,
      async () => {
        const dir = await mkdtemp(join(tmpdir(), 'fennec-store-'));
        let store = await Sqlite.open(dir, { durability });
        return {
          store,
          reopen: async () => {
            await store.close();
            store = await Sqlite.open(dir, { durability });
            return store;
          },
          cleanup: () => rm(dir, { recursive: true, force: true }),
        };
      },
      // A packet identifier above 65,535 breaks a CHECK constraint of the deliveries table.
      {
        refusedOp: {
          op: 'enqueue',
          record: storeRecords.delivery(9, 'c1', 1, { state: DeliveryState.Published, packetId: 70_000 }),
        },
      },
    );
  }
}
