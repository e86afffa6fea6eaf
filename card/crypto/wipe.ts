/**
 * Zero-fills every array given (key material, intermediate MAC and cipher blocks).
 *
 * What this can and cannot do in JavaScript: it overwrites the bytes of *this* buffer. It cannot
 * reach copies the engine or a library made (strings passed to node-forge, OpenSSL's own key
 * schedule inside `node:crypto` cipher objects, garbage-collected earlier buffers, pages swapped to
 * disk). It narrows the window in which a heap dump shows a key; it is not a guarantee.
 * `undefined` entries are skipped so callers can wipe optional temporaries in one call.
 */
export function wipe(...arrays: (Uint8Array | undefined)[]): void {
  for (const a of arrays) if (a) a.fill(0);
}
