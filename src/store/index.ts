// The Store seam: record types, the memory store and the SQLite store.
export * from './types.js';
export { MemoryStore } from './memory.js';
export {
  SqliteStore,
  SQLITE_FILE_NAME,
  SQLITE_SCHEMA_VERSION,
  type Durability,
  type SqliteStoreOptions,
} from './sqlite.js';
