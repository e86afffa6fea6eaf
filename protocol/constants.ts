/**
 * The bytes seed 000 leaves open in its host protocol (Figs. 1–3), fixed here and drawn in
 * docs/host-protocol.md. Every value below is referenced from that document.
 */

/** Header H of the value store command (Fig. 1, STEP 14: "H is a header representing the value store command"). */
export const H_VALUE_STORE = 0x51;
/** Header H of the differential charge mode (tariff) change command (Fig. 2, STEP 24). */
export const H_TARIFF = 0x52;
/** Header H of the usage and timer check command (Fig. 3, STEP 34). */
export const H_USAGE = 0x53;

/**
 * Clearing commands (issue 13, docs/host-protocol.md "Clearing"): record upload, blacklist
 * distribution and the host settle relay. Not in seed 000; authenticated like Figs. 2–3 (S2h).
 */
export const H_CLEARING_UPLOAD = 0x55;
export const H_BLACKLIST = 0x56;
export const H_SETTLE = 0x54;
/** Issue 17: utility-authenticated card commands to the meter, the card's answers back (docs/host-protocol.md). */
export const H_CARD_COMMANDS = 0x57;

export const HEADERS = [H_VALUE_STORE, H_TARIFF, H_USAGE] as const;
export type Header = (typeof HEADERS)[number];

/** Message tags (first byte of every protocol message carried in a link frame). */
export const TAG_INIT_REQUEST = 0x10;
export const TAG_INIT_RESPONSE = 0x11;
export const TAG_COMMAND_REQUEST = 0x20;
export const TAG_COMMAND_RESPONSE = 0x21;
export const TAG_REFUSAL = 0x7f;

/** Sizes in bytes: R1 and R2 (host randoms), R3 (terminal random), signatures, the key version n. */
export const R1_LENGTH = 8;
export const R2_LENGTH = 8;
export const R3_LENGTH = 8;
export const SIG_LENGTH = 8;
export const METER_ID_LENGTH = 3;
export const TX_ID_LENGTH = 8;
/** Largest command payload and largest M accepted (bounds every length field a parser reads). */
export const MAX_PAYLOAD = 4096;
export const MAX_M = 8192;

/** Reasons of a refusal message (unauthenticated: the host never trusts one to mean "not done"). */
export const REFUSE_UNKNOWN_KEY_VERSION = 0x01;
export const REFUSE_BAD_SIGNATURE = 0x02;
export const REFUSE_NO_SESSION = 0x03;
export const REFUSE_MALFORMED = 0x04;
export const REFUSE_UNKNOWN_HEADER = 0x05;
export const REFUSE_BAD_PAYLOAD = 0x06;

export const REFUSAL_NAMES: Readonly<Record<number, string>> = {
  1: 'unknown key version',
  2: 'bad signature S2h',
  3: 'no open session',
  4: 'malformed message',
  5: 'unknown header H',
  6: 'payload rejected',
};

/** Status byte at the head of the decrypted value-store answer. */
export const VS_CREDITED = 0x00;
/** The transaction id was credited before: the answer repeats the original result. */
export const VS_DUPLICATE = 0x01;
/** Authenticated refusal: the credit would pass the maximum balance; nothing was credited. */
export const VS_REFUSED_MAX_BALANCE = 0x02;

/** Status byte of the decrypted tariff answer. */
export const TARIFF_STORED = 0x00;

/** Tamper / state flags of the usage answer. */
export const FLAG_COVER_OPEN = 0x01;
export const FLAG_BYPASS = 0x02;
export const FLAG_LOAD_VOLTAGE_RELAY_OPEN = 0x04;
export const FLAG_RELAY_OPEN = 0x08;
