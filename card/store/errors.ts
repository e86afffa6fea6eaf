/**
 * Errors of the persistent store. A card OS answers `StoreCapacityError` with 6A84 (not enough
 * memory) and `StoreStateError` with 6581 (memory failure); neither reaches a reader.
 */
export class StoreCapacityError extends Error {
  override readonly name = 'StoreCapacityError';
}

/** The store was used in a way its protocol forbids (write outside a transaction, nested begin, used while unpowered). */
export class StoreStateError extends Error {
  override readonly name = 'StoreStateError';
}
