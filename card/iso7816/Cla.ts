/**
 * The class byte CLA of a command APDU (ISO/IEC 7816-4:2013 §5.4.1).
 *
 * ```
 *  b8 b7 b6 b5 b4 b3 b2 b1
 *   0  0  0  x  x  x  x  x   first interindustry values
 *            |  \__/  \__/
 *            |   SM   channel 0..3
 *            chaining (1 = not the last command of a chain)
 *   0  0  1  x  x  x  x  x   RFU
 *   0  1  x  x  x  x  x  x   further interindustry values
 *         |  |  \________/
 *         |  |   channel - 4 (channels 4..19)
 *         |  chaining
 *         SM (1 = SM per clause 10, command header not authenticated)
 *   1  x  x  x  x  x  x  x   proprietary (except FF)
 *   1  1  1  1  1  1  1  1   invalid (FF is the PPS byte in ISO/IEC 7816-3)
 * ```
 * SM bits b4-b3 of the first interindustry values: 00 no SM, 01 proprietary SM,
 * 10 SM per clause 10 with the command header not processed, 11 SM per clause 10 with the
 * command header authenticated.
 *
 * Proprietary classes: ISO leaves bits b7-b1 to the application, but GlobalPlatform (Card
 * Specification §11.1.4) and many card operating systems reuse the interindustry layout with
 * b8 set: 80..9F read like 00..1F, C0..FE like 40..7E. `decode` therefore reads chaining, SM
 * and channel of a proprietary class with that layout and reports `proprietary: true` and
 * `layout` so the caller knows those bits are only a convention. A0..BF (like the RFU range
 * 20..3F) has no layout; those fields are then reported as none/false/0.
 */
export type ClaSecureMessaging =
  'none' | 'proprietary' | 'header-not-processed' | 'header-authenticated' | 'header-not-authenticated';

export interface ClaInfo {
  /** The byte itself. */
  readonly byte: number;
  /** Which interindustry range the byte is in; false for proprietary, RFU and invalid bytes. */
  readonly interindustry: 'first' | 'further' | false;
  /** b8 = 1 and not FF. */
  readonly proprietary: boolean;
  /** FF. */
  readonly invalid: boolean;
  /** 001x xxxx. */
  readonly rfu: boolean;
  /**
   * The bit layout chaining/SM/channel were read with: the interindustry range itself, or for a
   * proprietary class the interindustry layout it mimics (GlobalPlatform style); undefined when
   * the bits have no defined meaning (RFU, A0..BF, FF).
   */
  readonly layout: 'first' | 'further' | undefined;
  /** Command chaining: true when this is not the last command of a chain (b5). */
  readonly chaining: boolean;
  readonly secureMessaging: ClaSecureMessaging;
  /** Logical channel number 0..19. */
  readonly channel: number;
}

export interface ClaSpec {
  /** Logical channel 0..19: 0..3 give a first interindustry class, 4..19 a further one. */
  channel: number;
  /**
   * Secure messaging indication. Channels 0..3 take any value except that
   * 'header-not-authenticated' is read as 'header-not-processed' (same bit pattern 10);
   * channels 4..19 take 'none' or 'header-not-authenticated' (alias 'header-not-processed').
   */
  sm?: ClaSecureMessaging;
  /** True when more commands of the chain follow. */
  chaining?: boolean;
  /** Set b8 (GlobalPlatform-style proprietary class with the interindustry layout). */
  proprietary?: boolean;
}

const FIRST_SM: readonly ClaSecureMessaging[] = [
  'none',
  'proprietary',
  'header-not-processed',
  'header-authenticated',
];

function readLayout(low: number): Pick<ClaInfo, 'layout' | 'chaining' | 'secureMessaging' | 'channel'> {
  // `low` is b7..b1 of the byte (b8 cleared).
  if ((low & 0x60) === 0x00) {
    return {
      layout: 'first',
      chaining: (low & 0x10) !== 0,
      secureMessaging: FIRST_SM[(low >> 2) & 3]!,
      channel: low & 3,
    };
  }
  if ((low & 0x40) !== 0) {
    return {
      layout: 'further',
      chaining: (low & 0x10) !== 0,
      secureMessaging: (low & 0x20) !== 0 ? 'header-not-authenticated' : 'none',
      channel: 4 + (low & 0x0f),
    };
  }
  return { layout: undefined, chaining: false, secureMessaging: 'none', channel: 0 };
}

/** Decoding and encoding of CLA (ISO/IEC 7816-4:2013 §5.4.1). */
export const Cla = {
  /**
   * Analyses a class byte.
   * @throws RangeError when `byte` is not an integer 0..255.
   */
  decode(byte: number): ClaInfo {
    if (!Number.isInteger(byte) || byte < 0 || byte > 255)
      throw new RangeError(`byte must be 0..255, got ${byte}`);
    if (byte === 0xff) {
      return {
        byte,
        interindustry: false,
        proprietary: false,
        invalid: true,
        rfu: false,
        layout: undefined,
        chaining: false,
        secureMessaging: 'none',
        channel: 0,
      };
    }
    const proprietary = (byte & 0x80) !== 0;
    const rfu = !proprietary && (byte & 0xe0) === 0x20;
    const bits = readLayout(byte & 0x7f);
    return {
      byte,
      interindustry: proprietary || rfu ? false : (bits.layout ?? false),
      proprietary,
      invalid: false,
      rfu,
      ...(rfu ? { layout: undefined, chaining: false, secureMessaging: 'none', channel: 0 } : bits),
    };
  },

  /**
   * Builds a class byte: a first interindustry class for channels 0..3, a further one for
   * 4..19; with `proprietary` the same layout with b8 set.
   * @throws RangeError when the channel is out of 0..19, the SM indication cannot be expressed
   *   on that channel, or the result would be the invalid byte FF.
   */
  encode(spec: ClaSpec): number {
    const { channel } = spec;
    const sm = spec.sm ?? 'none';
    if (!Number.isInteger(channel) || channel < 0 || channel > 19)
      throw new RangeError(`channel must be 0..19, got ${channel}`);
    const chain = spec.chaining === true ? 0x10 : 0;
    let byte: number;
    if (channel <= 3) {
      const smBits =
        sm === 'none'
          ? 0
          : sm === 'proprietary'
            ? 1
            : sm === 'header-not-processed' || sm === 'header-not-authenticated'
              ? 2
              : sm === 'header-authenticated'
                ? 3
                : -1;
      if (smBits < 0) throw new RangeError(`sm: unknown secure messaging indication ${String(sm)}`);
      byte = chain | (smBits << 2) | channel;
    } else {
      let smBit: number;
      if (sm === 'none') smBit = 0;
      else if (sm === 'header-not-authenticated' || sm === 'header-not-processed') smBit = 0x20;
      else
        throw new RangeError(
          `sm: '${String(sm)}' cannot be indicated on channel ${channel} (further interindustry class has only 'none' or 'header-not-authenticated')`,
        );
      byte = 0x40 | smBit | chain | (channel - 4);
    }
    if (spec.proprietary === true) {
      byte |= 0x80;
      if (byte === 0xff)
        throw new RangeError('proprietary class with channel 19, SM and chaining would be FF (invalid)');
    }
    return byte;
  },
} as const;
