/** The types a store under the conformance suite is described with. */
import type { Store, StoreOp } from './types.js';

/** A store under test. */
export interface OpenedStore {
  store: Store;
  /** Closes `store` and opens the same data again, as a restart would; absent for stores that cannot. */
  reopen?: () => Promise<Store>;
  /** Removes what the store left behind (files); called after the last store is closed. */
  cleanup?: () => Promise<void>;
}

/** What the suite needs to know of a store beyond `open`. */
export interface ConformanceOptions {
  /**
   * An operation this store refuses (e.g. breaking a constraint), to check that a batch failing on
   * its last operation leaves no earlier operation applied. Absent: that test is not registered.
   */
  refusedOp?: StoreOp;
}
