/**
 * The bureau's side of the master-key card (docs/personalisation.md §3): select it, present its
 * PIN, load the custodians' components, seal it, read its status, and carry the PERSO commands
 * of a personalisation session (personalise.ts). The PC never sees a key: it sends components in,
 * gets wrapped keys and MACs out.
 *
 * ```
 *   SELECT          00 A4 04 00 07 F04D504D4B4301 00  → 6F { 84 AID, 8A LCS, A5 { C9 serial(8),
 *                                                         CC issue counter(4), CD sealed slots(1) } }
 *   VERIFY          00 20 00 81 08 PIN block           63Cx wrong (x tries left), 6983 blocked
 *   LOAD COMPONENT  80 50 slot n 14 component(16) ‖ KCV(3) ‖ version(1)
 *   SEAL            80 52 00 00 4k  k × (slot ‖ KCV(3) of the whole key)
 *   GET DATA        80 CA 00 00 00  → LCS ‖ issue counter(4) ‖ k × (slot ‖ version ‖ components ‖ KCV(3))
 * ```
 */
import type { CardChannel } from '../../reader/index.js';
import { CardChannelError } from '../../reader/index.js';
import { CommandApdu, ResponseApdu, findTlv } from '../../card/index.js';
import { SW_NO_ERROR, concatBytes, toHex, u32 } from '../../card/index.js';
import { persoChannel } from '../../card/index.js';
import { BureauError } from './BureauError.js';
import type { ComponentFile, Manifest } from './keyComponents.js';
import { slotLabel } from './keyComponents.js';

const {
  AID_MKC,
  INS_MKC_GET_DATA,
  INS_MKC_LOAD_COMPONENT,
  INS_MKC_SEAL,
  LCS_ACTIVATED,
  LCS_INITIALISATION,
  SLOT_KH_BASE,
  slotName,
} = persoChannel;

const LE = 256;
const INS_SELECT = 0xa4;
const INS_VERIFY = 0x20;
/** VERIFY's P2: the MKC's own PIN (ISO/IEC 7816-4 §7.5.6, specific reference data 81). */
const MKC_PIN_REFERENCE = 0x81;
const SW_FILE_NOT_FOUND = 0x6a82;
const SW_PIN_BLOCKED = 0x6983;
/** Bytes of SEAL data in one short APDU of a chain: 63 slot entries of 4. */
const SEAL_PART = 252;

/** One slot as GET DATA reports it. */
export interface MkcSlotStatus {
  slot: number;
  name: string;
  version: number;
  /** Components loaded so far. */
  components: number;
  /** KCV of the combined key once sealed, else 000000. */
  kcv: Uint8Array;
}

/** What GET DATA says: no secret. */
export interface MkcStatus {
  lcs: number;
  sealed: boolean;
  issueCounter: number;
  slots: MkcSlotStatus[];
}

/**
 * The PIN block of the MKC: ASCII digits padded with FF to 8 bytes.
 * @throws RangeError unless `pin` is 4..8 digits.
 */
export function mkcPinBlock(pin: string): Uint8Array {
  if (!/^[0-9]{4,8}$/.test(pin)) throw new RangeError('the MKC PIN must be 4..8 digits');
  const b = new Uint8Array(8).fill(0xff);
  for (let i = 0; i < pin.length; i++) b[i] = pin.charCodeAt(i);
  return b;
}

/** Decodes GET DATA. @throws BureauError 'mkc-refused' when the answer is not laid out as §3 says. */
export function decodeMkcStatus(d: Uint8Array): MkcStatus {
  if (d.length < 5 || (d.length - 5) % 6 !== 0)
    throw new BureauError(
      'mkc-refused',
      'MKC GET DATA',
      `answer of ${d.length} bytes is not LCS ‖ counter ‖ 6k`,
    );
  const slots: MkcSlotStatus[] = [];
  for (let o = 5; o < d.length; o += 6)
    slots.push({
      slot: d[o]!,
      name: slotName(d[o]!),
      version: d[o + 1]!,
      components: d[o + 2]!,
      kcv: d.slice(o + 3, o + 6),
    });
  return { lcs: d[0]!, sealed: d[0] === LCS_ACTIVATED, issueCounter: u32(d, 1), slots };
}

/** A master-key card, selected and (when a PIN was given) verified. */
export class MasterKeyCard {
  #lcs: number;
  private constructor(
    readonly channel: CardChannel,
    /** The MKC's serial (FCI C9), hex. */
    readonly serial: string,
    lcs: number,
  ) {
    this.#lcs = lcs;
  }

  /** Its life-cycle status: 03 while components are loaded, 05 once sealed. */
  get lcs(): number {
    return this.#lcs;
  }

  /**
   * SELECT the MKC application and VERIFY its PIN (`pin` undefined: no VERIFY, for `status()`).
   * @throws BureauError 'mkc-missing' (no MKC answers, the reader is empty or the card gone),
   *   'mkc-pin-wrong' (with `triesLeft`), 'mkc-blocked' (6983, or the last try spent).
   */
  static async open(channel: CardChannel, pin?: string): Promise<MasterKeyCard> {
    const r = await send(
      channel,
      new CommandApdu({ cla: 0x00, ins: INS_SELECT, p1: 0x04, p2: 0x00, data: AID_MKC, ne: LE }),
      'MKC SELECT',
    );
    if (r.sw === SW_FILE_NOT_FOUND)
      throw new BureauError('mkc-missing', 'MKC SELECT', 'no master-key card in the reader (SELECT 6A82)', {
        sw: r.sw,
      });
    if (r.sw !== SW_NO_ERROR)
      throw new BureauError(
        'mkc-missing',
        'MKC SELECT',
        'the card in the reader is not a usable master-key card',
        {
          sw: r.sw,
        },
      );
    const lcs = findTlv(r.data, 0x8a);
    const serial = findTlv(r.data, 0xc9);
    if (lcs?.length !== 1 || !serial)
      throw new BureauError(
        'mkc-missing',
        'MKC SELECT',
        'FCI lacks LCS (8A) or serial (C9): not a master-key card',
      );
    const mkc = new MasterKeyCard(channel, toHex(serial), lcs[0]!);
    if (pin !== undefined) await mkc.verify(pin);
    return mkc;
  }

  /**
   * VERIFY the MKC's PIN. @throws BureauError 'mkc-pin-wrong' (triesLeft), 'mkc-blocked'.
   */
  async verify(pin: string): Promise<void> {
    let block: Uint8Array;
    try {
      block = mkcPinBlock(pin);
    } catch (e) {
      throw new BureauError('bad-order', 'MKC VERIFY', (e as Error).message);
    }
    const r = await send(
      this.channel,
      new CommandApdu({ cla: 0x00, ins: INS_VERIFY, p1: 0, p2: MKC_PIN_REFERENCE, data: block }),
      'MKC VERIFY',
    );
    block.fill(0);
    if (r.sw === SW_NO_ERROR) return;
    if ((r.sw & 0xfff0) === 0x63c0) {
      const left = r.sw & 0x0f;
      if (left === 0)
        throw new BureauError(
          'mkc-blocked',
          'MKC VERIFY',
          'wrong PIN: no try left, the master-key card is blocked',
          {
            sw: r.sw,
            triesLeft: 0,
          },
        );
      throw new BureauError(
        'mkc-pin-wrong',
        'MKC VERIFY',
        `wrong PIN: ${left} ${left === 1 ? 'try' : 'tries'} left`,
        {
          sw: r.sw,
          triesLeft: left,
        },
      );
    }
    if (r.sw === SW_PIN_BLOCKED)
      throw new BureauError(
        'mkc-blocked',
        'MKC VERIFY',
        'the master-key card is blocked (its PIN was wrong 3 times)',
        {
          sw: r.sw,
          triesLeft: 0,
        },
      );
    throw new BureauError('mkc-refused', 'MKC VERIFY', undefined, { sw: r.sw });
  }

  /** GET DATA, decoded. @throws BureauError on a refusal. */
  async status(): Promise<MkcStatus> {
    return decodeMkcStatus(
      await this.expect(
        new CommandApdu({ cla: 0x80, ins: INS_MKC_GET_DATA, p1: 0, p2: 0, ne: LE }),
        'MKC GET DATA',
      ),
    );
  }

  /**
   * LOAD COMPONENT for each component of one custodian's file, in its order (component number =
   * the custodian's number). @throws BureauError 'mkc-refused' naming the slot (6A80: the
   * component does not match its KCV; 6A86: out of order; a version other than the slot's), or
   * 'mkc-sealed' when the MKC is sealed already.
   */
  async loadComponents(file: ComponentFile): Promise<void> {
    for (const c of file.components) {
      const step = `MKC LOAD COMPONENT ${slotLabel(c.slot)} #${file.custodian}`;
      const r = await send(
        this.channel,
        new CommandApdu({
          cla: 0x80,
          ins: INS_MKC_LOAD_COMPONENT,
          p1: c.slot,
          p2: file.custodian,
          data: concatBytes(c.component, c.kcv, Uint8Array.of(c.version)),
        }),
        step,
      );
      if (r.sw !== SW_NO_ERROR) throw this.#refusal(step, r.sw);
    }
  }

  /**
   * SEAL with the manifest's KCVs of the whole keys: the MKC checks every combination and goes
   * to LCS 05, or refuses (6A80) and keeps everything as it was.
   * @throws BureauError 'mkc-refused' / 'mkc-sealed'.
   */
  async seal(manifest: Manifest): Promise<void> {
    const data = concatBytes(...manifest.slots.map((s) => concatBytes(Uint8Array.of(s.slot), s.kcv)));
    const step = 'MKC SEAL';
    // More than 63 slots do not fit a short Lc: command chaining (ISO/IEC 7816-4 §5.1.1.1, CLA
    // b5 = 1 on every part but the last), whole slot entries in each part.
    let r: ResponseApdu | undefined;
    for (let o = 0; o < data.length; o += SEAL_PART) {
      const last = o + SEAL_PART >= data.length;
      const cla = last ? 0x80 : 0x90;
      r = await send(
        this.channel,
        new CommandApdu({ cla, ins: INS_MKC_SEAL, p1: 0, p2: 0, data: data.subarray(o, o + SEAL_PART) }),
        step,
      );
      if (r.sw !== SW_NO_ERROR) throw this.#refusal(step, r.sw);
    }
    this.#lcs = LCS_ACTIVATED;
  }

  /** The KH versions n the MKC holds for utility `utility` (slots u << 4 | 8 + n), ascending. */
  static khVersions(status: MkcStatus, utility: number): number[] {
    return status.slots
      .filter((s) => s.slot >> 4 === utility && (s.slot & 0x0f) >= SLOT_KH_BASE)
      .map((s) => (s.slot & 0x0f) - SLOT_KH_BASE)
      .sort((a, b) => a - b);
  }

  #refusal(step: string, sw: number): BureauError {
    if (sw === 0x6985 && this.lcs !== LCS_INITIALISATION)
      return new BureauError('mkc-sealed', step, 'the master-key card is sealed already', { sw });
    return new BureauError('mkc-refused', step, undefined, { sw });
  }

  /**
   * One command of a PERSO session (or any other): the response data on 9000.
   * @throws BureauError 'mkc-missing' when the card went away; 'mkc-not-sealed' for 6985 on an
   *   unsealed MKC; 'mkc-refused' for any other status word.
   */
  async expect(cmd: CommandApdu, step: string): Promise<Uint8Array> {
    const r = await send(this.channel, cmd, step);
    if (r.sw === SW_NO_ERROR) return r.data;
    if (r.sw === 0x6985 && this.lcs === LCS_INITIALISATION)
      throw new BureauError(
        'mkc-not-sealed',
        step,
        'the master-key card is not sealed (LCS 03): load and seal it first',
        {
          sw: r.sw,
        },
      );
    if (r.sw === 0x6a89)
      throw new BureauError(
        'serial-issued',
        step,
        'the master-key card has issued this serial, or a higher one, to another chip: allocate a serial above the highest issued',
        { sw: r.sw },
      );
    throw new BureauError('mkc-refused', step, undefined, { sw: r.sw });
  }

  /** Sends a command; a channel failure becomes 'mkc-missing'. */
  async transmit(cmd: CommandApdu, step: string): Promise<ResponseApdu> {
    return send(this.channel, cmd, step);
  }
}

async function send(channel: CardChannel, cmd: CommandApdu, step: string): Promise<ResponseApdu> {
  try {
    return await channel.transmit(cmd);
  } catch (e) {
    if (e instanceof CardChannelError)
      throw new BureauError('mkc-missing', step, `the master-key card does not answer: ${e.message}`, {
        cause: e,
      });
    throw e;
  }
}
