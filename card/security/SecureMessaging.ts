/**
 * Secure messaging (ISO/IEC 7816-4 §10) in the profile ICAO Doc 9303 part 11 §9.8 uses, which
 * the card OS wraps around dispatch for commands whose CLA announces SM (first interindustry
 * b4-b3 = 11: header authenticated, 10: header not authenticated; further interindustry b6 = 1:
 * header not authenticated). Data objects:
 * ```
 *  87 L 01 ‖ cryptogram     padding-content indicator 01 (ISO 9797-1 method 2) + encrypted data
 *  81 L value               plain value (data that needs no confidentiality)
 *  97 L Le                  protected Le (1 or 2 bytes, 00 / 0000 = maximum)
 *  99 02 SW1 SW2            protected status (responses)
 *  8E 08 MAC                cryptographic checksum, always last
 * ```
 * Every command and every response increments the send sequence counter (SSC, one block long)
 * before its MAC is computed:
 * ```
 *  command MAC  = MAC(KSmac, SSC ‖ pad(CLA INS P1 P2) ‖ DO87|DO81 ‖ DO97)   header authenticated
 *  command MAC  = MAC(KSmac, SSC ‖ DO87|DO81 ‖ DO97)                       header not authenticated
 *  response MAC = MAC(KSmac, SSC ‖ DO87 ‖ DO99)
 *  TDES: MAC = ISO/IEC 9797-1 MAC algorithm 3 (padding method 2); encryption TDES-CBC, IV = 0
 *  AES:  MAC = AES-CMAC over the input padded by method 2, first 8 bytes; AES-CBC, IV = E(KSenc, SSC)
 * ```
 * A missing 8E answers 6987, a wrong MAC or a malformed object 6988; both end the session
 * (as 9303 requires), so the terminal must authenticate again.
 */
import type { BlockAlgorithm, BlockCipherProvider } from '../crypto/types.js';
import { cmac, macIso9797Alg3, pad, unpadMethod2 } from '../crypto/mac.js';
import { wipe } from '../crypto/wipe.js';
import { CommandApdu } from '../iso7816/CommandApdu.js';
import { MalformedDataError, SwError } from '../iso7816/errors.js';
import { TlvNode, type TlvList } from '../iso7816/tlv.js';
import { SW_SM_DATA_OBJECTS_INCORRECT, SW_SM_DATA_OBJECTS_MISSING } from '../iso7816/sw.js';
import { concatBytes, equalBytes } from '../util/hex.js';
import { be16, u16 } from '../util/bigEndian.js';

export const TAG_SM_CRYPTOGRAM = 0x87;
export const TAG_SM_PLAIN = 0x81;
export const TAG_SM_LE = 0x97;
export const TAG_SM_STATUS = 0x99;
export const TAG_SM_MAC = 0x8e;

/** Session keys and counter of one channel's secure-messaging session. */
export class SmSession {
  readonly alg: BlockAlgorithm;
  readonly #kEnc: Uint8Array;
  readonly #kMac: Uint8Array;
  readonly #ssc: Uint8Array;
  #open = true;

  /** @throws RangeError when the SSC is not one block long. */
  constructor(alg: BlockAlgorithm, kEnc: Uint8Array, kMac: Uint8Array, ssc: Uint8Array) {
    const bs = alg === 'aes' ? 16 : 8;
    if (ssc.length !== bs) throw new RangeError(`ssc must be ${bs} bytes, got ${ssc.length}`);
    this.alg = alg;
    this.#kEnc = Uint8Array.from(kEnc);
    this.#kMac = Uint8Array.from(kMac);
    this.#ssc = Uint8Array.from(ssc);
  }

  get open(): boolean {
    return this.#open;
  }

  get blockSize(): number {
    return this.alg === 'aes' ? 16 : 8;
  }

  /** A copy of the current SSC. */
  get ssc(): Uint8Array {
    return this.#ssc.slice();
  }

  /** Wipes the keys; the session can no longer be used. */
  close(): void {
    this.#open = false;
    wipe(this.#kEnc, this.#kMac);
  }

  /** Increments the SSC (big-endian) and returns a copy. */
  nextSsc(): Uint8Array {
    for (let i = this.#ssc.length - 1; i >= 0; i--) {
      this.#ssc[i] = (this.#ssc[i]! + 1) & 0xff;
      if (this.#ssc[i] !== 0) break;
    }
    return this.#ssc.slice();
  }

  mac(cipher: BlockCipherProvider, input: Uint8Array): Uint8Array {
    if (this.alg === 'tdes') {
      const k = this.#kMac.length === 16 ? this.#kMac : this.#kMac.subarray(0, 16);
      return macIso9797Alg3(cipher, k, input, 2);
    }
    return cmac(cipher, 'aes', this.#kMac, pad(input, 2, 16)).slice(0, 8);
  }

  #iv(cipher: BlockCipherProvider, ssc: Uint8Array): Uint8Array | undefined {
    return this.alg === 'aes' ? cipher.encrypt('aes', 'ecb', this.#kEnc, ssc) : new Uint8Array(8);
  }

  encrypt(cipher: BlockCipherProvider, ssc: Uint8Array, plain: Uint8Array): Uint8Array {
    return cipher.encrypt(this.alg, 'cbc', this.#kEnc, pad(plain, 2, this.blockSize), this.#iv(cipher, ssc));
  }

  decrypt(cipher: BlockCipherProvider, ssc: Uint8Array, data: Uint8Array): Uint8Array {
    return unpadMethod2(cipher.decrypt(this.alg, 'cbc', this.#kEnc, data, this.#iv(cipher, ssc)));
  }
}

interface Tlv {
  tag: number;
  value: Uint8Array;
  raw: Uint8Array;
}

/**
 * Parses the flat list of SM data objects (ISO/IEC 7816-4 §10.2) with the one BER-TLV reader
 * (card/iso7816/tlv.ts). Stricter than a generic list: no 00/FF padding (every byte must be
 * covered by an object the MAC can see) and no nesting below the objects themselves.
 * @throws SwError 6988 when malformed.
 */
function parseObjects(data: Uint8Array): Tlv[] {
  let list: TlvList;
  try {
    list = TlvNode.decodeAll(data, { maxDepth: 1 });
  } catch (e) {
    if (e instanceof MalformedDataError)
      throw new SwError(SW_SM_DATA_OBJECTS_INCORRECT, `SM objects at ${e.offset}: ${e.reason}`);
    throw e;
  }
  if (list.trailingPadding.length > 0)
    throw new SwError(SW_SM_DATA_OBJECTS_INCORRECT, 'padding after SM objects');
  return list.nodes.map((n) => {
    if (n.paddingBefore.length > 0)
      throw new SwError(SW_SM_DATA_OBJECTS_INCORRECT, 'padding between SM objects');
    return { tag: n.tag, value: n.valueView(), raw: n.encode() };
  });
}

/** One SM data object: a primitive BER-TLV in its minimal length form (card/iso7816/tlv.ts). */
export function smObject(tag: number, value: Uint8Array): Uint8Array {
  return TlvNode.primitive(tag, value).encode();
}

/**
 * Checks and removes the SM protection of a command (see the module comment).
 * @param plainCla the class byte the plain command gets (SM bits cleared).
 * @param headerAuthenticated whether the MAC covers the header (CLA as received, INS, P1, P2).
 * @returns the plain command.
 * @throws SwError 6987 (no MAC object) or 6988 (wrong MAC, bad objects, bad padding).
 */
export function unwrapCommand(
  session: SmSession,
  cipher: BlockCipherProvider,
  apdu: CommandApdu,
  plainCla: number,
  headerAuthenticated = true,
): CommandApdu {
  const objs = parseObjects(apdu.dataView());
  const last = objs[objs.length - 1];
  if (!last || last.tag !== TAG_SM_MAC) throw new SwError(SW_SM_DATA_OBJECTS_MISSING, 'no 8E object');
  let body: Tlv | undefined;
  let le: Tlv | undefined;
  for (const o of objs.slice(0, -1)) {
    if ((o.tag === TAG_SM_CRYPTOGRAM || o.tag === TAG_SM_PLAIN) && !body && !le) body = o;
    else if (o.tag === TAG_SM_LE && !le) le = o;
    else throw new SwError(SW_SM_DATA_OBJECTS_INCORRECT, `unexpected SM object ${o.tag.toString(16)}`);
  }
  const ssc = session.nextSsc();
  const header = headerAuthenticated
    ? pad(Uint8Array.of(apdu.cla, apdu.ins, apdu.p1, apdu.p2), 2, session.blockSize)
    : new Uint8Array(0);
  const input = concatBytes(ssc, header, body?.raw ?? new Uint8Array(0), le?.raw ?? new Uint8Array(0));
  if (!equalBytes(session.mac(cipher, input), last.value))
    throw new SwError(SW_SM_DATA_OBJECTS_INCORRECT, 'wrong MAC');
  let data: Uint8Array = new Uint8Array(0);
  if (body?.tag === TAG_SM_PLAIN) data = body.value.slice();
  else if (body) {
    const v = body.value;
    if (v.length < 1 + session.blockSize || v[0] !== 0x01 || (v.length - 1) % session.blockSize !== 0)
      throw new SwError(SW_SM_DATA_OBJECTS_INCORRECT, 'bad cryptogram');
    try {
      data = session.decrypt(cipher, ssc, v.subarray(1));
    } catch {
      throw new SwError(SW_SM_DATA_OBJECTS_INCORRECT, 'bad padding');
    }
  }
  let ne: number | undefined;
  if (le) {
    const v = le.value;
    if (v.length === 1) ne = v[0] === 0 ? 256 : v[0];
    else if (v.length === 2) ne = u16(v) === 0 ? 65536 : u16(v);
    else throw new SwError(SW_SM_DATA_OBJECTS_INCORRECT, 'bad 97 object');
  }
  try {
    return new CommandApdu({ cla: plainCla, ins: apdu.ins, p1: apdu.p1, p2: apdu.p2, data, ne });
  } catch {
    throw new SwError(SW_SM_DATA_OBJECTS_INCORRECT, 'protected command too long');
  }
}

/** Protects a response: `[87] ‖ 99 ‖ 8E` (see the module comment). */
export function wrapResponse(
  session: SmSession,
  cipher: BlockCipherProvider,
  data: Uint8Array,
  sw: number,
): Uint8Array {
  const ssc = session.nextSsc();
  const enc =
    data.length > 0
      ? smObject(TAG_SM_CRYPTOGRAM, concatBytes(Uint8Array.of(0x01), session.encrypt(cipher, ssc, data)))
      : new Uint8Array(0);
  const status = smObject(TAG_SM_STATUS, be16(sw));
  const mac = session.mac(cipher, concatBytes(ssc, enc, status));
  return concatBytes(enc, status, smObject(TAG_SM_MAC, mac));
}

/**
 * The terminal's side (tests, host and meter code): protects a command the way
 * `unwrapCommand` expects. `cla` is the class byte to send (SM and channel bits set); the
 * header is authenticated unless the class says otherwise (first interindustry b4-b3 = 10,
 * further interindustry).
 */
export function wrapCommand(
  session: SmSession,
  cipher: BlockCipherProvider,
  plain: CommandApdu,
  cla: number,
): CommandApdu {
  const ssc = session.nextSsc();
  const body =
    plain.nc > 0
      ? smObject(
          TAG_SM_CRYPTOGRAM,
          concatBytes(Uint8Array.of(0x01), session.encrypt(cipher, ssc, plain.dataView())),
        )
      : new Uint8Array(0);
  const le =
    plain.ne !== undefined
      ? smObject(
          TAG_SM_LE,
          plain.ne > 256
            ? Uint8Array.of((plain.ne >> 8) & 0xff, plain.ne & 0xff)
            : Uint8Array.of(plain.ne & 0xff),
        )
      : new Uint8Array(0);
  const headerAuthenticated = (cla & 0x40) === 0 && (cla & 0x0c) === 0x0c;
  const header = headerAuthenticated
    ? pad(Uint8Array.of(cla, plain.ins, plain.p1, plain.p2), 2, session.blockSize)
    : new Uint8Array(0);
  const mac = session.mac(cipher, concatBytes(ssc, header, body, le));
  const data = concatBytes(body, le, smObject(TAG_SM_MAC, mac));
  return new CommandApdu({ cla, ins: plain.ins, p1: plain.p1, p2: plain.p2, data, ne: 256 });
}

/**
 * The terminal's side: checks and removes the protection of a response.
 * @throws SwError 6987 / 6988 like the card does.
 */
export function unwrapResponse(
  session: SmSession,
  cipher: BlockCipherProvider,
  data: Uint8Array,
): { data: Uint8Array; sw: number } {
  const objs = parseObjects(data);
  const mac = objs.find((o) => o.tag === TAG_SM_MAC);
  const status = objs.find((o) => o.tag === TAG_SM_STATUS);
  if (!mac || !status || status.value.length !== 2) throw new SwError(SW_SM_DATA_OBJECTS_MISSING);
  const enc = objs.find((o) => o.tag === TAG_SM_CRYPTOGRAM);
  const ssc = session.nextSsc();
  const input = concatBytes(ssc, enc?.raw ?? new Uint8Array(0), status.raw);
  if (!equalBytes(session.mac(cipher, input), mac.value))
    throw new SwError(SW_SM_DATA_OBJECTS_INCORRECT, 'wrong MAC');
  const plain = enc ? session.decrypt(cipher, ssc, enc.value.subarray(1)) : new Uint8Array(0);
  return { data: plain, sw: u16(status.value) };
}
