/**
 * Typed errors of the crypto layer. Argument errors are plain `TypeError`/`RangeError` naming the
 * parameter (STYLE.md rule 1); these classes cover the cases a caller may want to tell apart.
 */

/** An implementation cannot do the requested algorithm (e.g. node-forge has no ECDSA P-256). */
export class UnsupportedAlgorithmError extends Error {
  override readonly name = 'UnsupportedAlgorithmError';
  constructor(
    /** The algorithm asked for, e.g. 'ecdsa-p256-sha256'. */
    readonly algorithm: string,
    /** The implementation that refused, e.g. 'forge'. */
    readonly implementation: string,
  ) {
    super(`${implementation} does not implement ${algorithm}`);
  }
}

/** Removing ISO/IEC 9797-1 padding method 2 failed: no 80 marker, or non-zero bytes after it. */
export class PaddingError extends Error {
  override readonly name = 'PaddingError';
  constructor(
    readonly reason: string,
    /** Offset in the padded data where the check failed. */
    readonly offset: number,
  ) {
    super(`bad ISO/IEC 9797-1 padding method 2 at offset ${offset}: ${reason}`);
  }
}

/** A key version is not held by a key ring (never added, or retired). */
export class UnknownKeyVersionError extends Error {
  override readonly name = 'UnknownKeyVersionError';
  constructor(
    /** The version asked for; -1 when the ring is empty and there is no current version. */
    readonly version: number,
  ) {
    super(
      version < 0
        ? 'the key ring is empty: no current host master key'
        : `no host master key with version ${version}`,
    );
  }
}

/** Encoded key material (PEM, DER, JWK) could not be imported. */
export class KeyFormatError extends Error {
  override readonly name = 'KeyFormatError';
  constructor(
    readonly format: string,
    readonly reason: string,
  ) {
    super(`cannot import ${format} key: ${reason}`);
  }
}
