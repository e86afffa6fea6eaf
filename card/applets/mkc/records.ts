/**
 * Byte layouts of the master-key card's records (docs/personalisation.md §3). Immutable values
 * with decode/encode (STYLE.md rule 3), and the fixed list of key slots the card reserves.
 *
 * ```
 *   m.identity   MKC serial(8) ‖ LCS(1)                                    LCS 03 loading, 05 sealed
 *   m.pin        tries left(1) ‖ maximum(1) ‖ PIN block(8)
 *   m.counter    issue counter u32                                         personalisations closed
 *   m.slot.XX    version(1) ‖ components loaded(1) ‖ key(16) ‖ KCV(3)      one per slot XX (hex)
 *   m.issued.K   highest serial issued(8) ‖ the chip it went to (ICSN 8)   K = 1 subscriber, 4 commissioning
 * ```
 * A slot's key is the XOR of the components loaded so far while the card is at LCS 03; SEAL
 * replaces it with the combined key (DES parity set) and fills in its KCV (000000 before).
 */
import { MalformedDataError } from '../../iso7816/errors.js';
import { KCV_LENGTH } from '../../crypto/kcv.js';
import { SLOT_COMM, SLOT_KH_BASE } from '../perso/channel.js';
import { MAX_PURSE_ID, MIN_PURSE_ID } from '../IssuerKeys.js';

export const KEY_MKC_IDENTITY = 'm.identity';
export const KEY_MKC_PIN = 'm.pin';
export const KEY_MKC_COUNTER = 'm.counter';
/** Highest card serial issued of a kind (subscriber 1, commissioning 4) and the chip it went to. */
export const keyMkcIssued = (kind: number): string => `m.issued.${kind}`;
/** The record of slot `slot`: 'm.slot.1a'. */
export const keyMkcSlot = (slot: number): string => `m.slot.${slot.toString(16).padStart(2, '0')}`;

/**
 * How many host master keys KH[n] a utility may hold on the card: n = 0..3 (slot types 8..11).
 * Seed 000 terminal keys go up to KH[7] in principle; four versions cover a key roll-over with
 * room to spare and keep the reserved memory fixed.
 */
export const MKC_KH_VERSIONS = 4;
/** Transport master versions MK_tr[v], v = 1..15 (slots 01..0F). */
export const MKC_TRANSPORT_VERSIONS = 15;
/** Most components of one slot. */
export const MKC_MAX_COMPONENTS = 3;

/** True for a slot the card reserves: 01..0F, and u << 4 | type for u 1..15, type 1..6 or 8..11. */
export function isMkcSlot(slot: number): boolean {
  if (!Number.isInteger(slot) || slot < 0 || slot > 0xff) return false;
  const u = slot >> 4;
  const t = slot & 0x0f;
  if (u === 0) return t >= 1 && t <= MKC_TRANSPORT_VERSIONS;
  if (u < MIN_PURSE_ID || u > MAX_PURSE_ID) return false;
  return (t >= 1 && t <= SLOT_COMM) || (t >= SLOT_KH_BASE && t < SLOT_KH_BASE + MKC_KH_VERSIONS);
}

/** Every slot the card reserves, ascending (the record layout's order). */
export const MKC_SLOTS: readonly number[] = Array.from({ length: 256 }, (_, s) => s).filter(isMkcSlot);

function need(b: Uint8Array, n: number, kind: string): void {
  if (b.length !== n)
    throw new MalformedDataError(`${kind} is ${n} bytes, got ${b.length}`, Math.min(b.length, n), b, kind);
}

/** Identity, 9 bytes: MKC serial(8) ‖ LCS(1). */
export class MkcIdentity {
  static readonly LENGTH = 9;
  readonly serial: Uint8Array;
  constructor(
    serial: Uint8Array,
    readonly lcs: number,
  ) {
    this.serial = serial.slice();
  }

  static decode(b: Uint8Array): MkcIdentity {
    need(b, MkcIdentity.LENGTH, 'MKC identity');
    return new MkcIdentity(b.subarray(0, 8), b[8]!);
  }

  encode(): Uint8Array {
    const b = new Uint8Array(MkcIdentity.LENGTH);
    b.set(this.serial, 0);
    b[8] = this.lcs;
    return b;
  }
}

/** One key slot, 21 bytes: version(1) ‖ components loaded(1) ‖ key(16) ‖ KCV(3). */
export class MkcSlot {
  static readonly LENGTH = 2 + 16 + KCV_LENGTH;
  readonly key: Uint8Array;
  readonly kcv: Uint8Array;
  constructor(
    readonly version: number,
    readonly components: number,
    key: Uint8Array,
    kcv: Uint8Array = new Uint8Array(KCV_LENGTH),
  ) {
    this.key = key.slice();
    this.kcv = kcv.slice();
  }

  static decode(b: Uint8Array): MkcSlot {
    need(b, MkcSlot.LENGTH, 'MKC slot');
    return new MkcSlot(b[0]!, b[1]!, b.subarray(2, 18), b.subarray(18, 18 + KCV_LENGTH));
  }

  encode(): Uint8Array {
    const b = new Uint8Array(MkcSlot.LENGTH);
    b[0] = this.version;
    b[1] = this.components;
    b.set(this.key, 2);
    b.set(this.kcv, 18);
    return b;
  }
}
