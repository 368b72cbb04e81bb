// The Store seam: record types, the memory store, the SQLite store and the conformance suite every
// store must pass.
export * from './types.js';
export { MemoryStore } from './memory.js';
export {
  SqliteStore,
  SQLITE_FILE_NAME,
  SQLITE_SCHEMA_VERSION,
  type Durability,
  type SqliteStoreOptions,
} from './sqlite.js';
export { SqliteWorkerStore } from './sqlite-thread.js';
export { storeConformance, type ConformanceOptions, type OpenedStore } from './conformance.js';
/** Record builders for store tests (`session`, `message`, `delivery`...), as the suite uses them. */
export * as storeRecords from './conformance-records.js';
