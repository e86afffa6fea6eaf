/**
 * Interindustry instruction codes (ISO/IEC 7816-4:2013 §5.4.2, Table 4). An odd INS is the
 * same command with BER-TLV coded data (e.g. B1 READ BINARY with an offset data object).
 * INS values 6X and 9X are invalid: in T=0 they would be read as SW1 (ISO/IEC 7816-3 §10.3.3).
 */
export const INS_DEACTIVATE_FILE = 0x04;
export const INS_ERASE_RECORD = 0x0c;
export const INS_ERASE_BINARY = 0x0e;
export const INS_PERFORM_SCQL_OPERATION = 0x10;
export const INS_PERFORM_TRANSACTION_OPERATION = 0x12;
export const INS_PERFORM_USER_OPERATION = 0x14;
export const INS_VERIFY = 0x20;
export const INS_MANAGE_SECURITY_ENVIRONMENT = 0x22;
export const INS_CHANGE_REFERENCE_DATA = 0x24;
export const INS_DISABLE_VERIFICATION_REQUIREMENT = 0x26;
export const INS_ENABLE_VERIFICATION_REQUIREMENT = 0x28;
export const INS_PERFORM_SECURITY_OPERATION = 0x2a;
export const INS_RESET_RETRY_COUNTER = 0x2c;
export const INS_ACTIVATE_FILE = 0x44;
export const INS_GENERATE_ASYMMETRIC_KEY_PAIR = 0x46;
export const INS_MANAGE_CHANNEL = 0x70;
export const INS_EXTERNAL_AUTHENTICATE = 0x82;
export const INS_GET_CHALLENGE = 0x84;
export const INS_GENERAL_AUTHENTICATE = 0x86;
export const INS_INTERNAL_AUTHENTICATE = 0x88;
export const INS_SEARCH_BINARY = 0xa0;
export const INS_SEARCH_RECORD = 0xa2;
export const INS_SELECT = 0xa4;
export const INS_READ_BINARY = 0xb0;
export const INS_READ_RECORD = 0xb2;
export const INS_GET_RESPONSE = 0xc0;
export const INS_ENVELOPE = 0xc2;
export const INS_GET_DATA = 0xca;
export const INS_WRITE_BINARY = 0xd0;
export const INS_WRITE_RECORD = 0xd2;
export const INS_UPDATE_BINARY = 0xd6;
export const INS_PUT_DATA = 0xda;
export const INS_UPDATE_RECORD = 0xdc;
export const INS_CREATE_FILE = 0xe0;
export const INS_APPEND_RECORD = 0xe2;
export const INS_DELETE_FILE = 0xe4;
export const INS_TERMINATE_DF = 0xe6;
export const INS_TERMINATE_EF = 0xe8;
export const INS_TERMINATE_CARD_USAGE = 0xfe;

/** Even INS → name; odd variants are looked up through their even neighbour where Table 4 has one. */
export const INS_NAMES: ReadonlyMap<number, string> = new Map([
  [INS_DEACTIVATE_FILE, 'DEACTIVATE FILE'],
  [INS_ERASE_RECORD, 'ERASE RECORD(S)'],
  [INS_ERASE_BINARY, 'ERASE BINARY'],
  [INS_PERFORM_SCQL_OPERATION, 'PERFORM SCQL OPERATION'],
  [INS_PERFORM_TRANSACTION_OPERATION, 'PERFORM TRANSACTION OPERATION'],
  [INS_PERFORM_USER_OPERATION, 'PERFORM USER OPERATION'],
  [INS_VERIFY, 'VERIFY'],
  [INS_MANAGE_SECURITY_ENVIRONMENT, 'MANAGE SECURITY ENVIRONMENT'],
  [INS_CHANGE_REFERENCE_DATA, 'CHANGE REFERENCE DATA'],
  [INS_DISABLE_VERIFICATION_REQUIREMENT, 'DISABLE VERIFICATION REQUIREMENT'],
  [INS_ENABLE_VERIFICATION_REQUIREMENT, 'ENABLE VERIFICATION REQUIREMENT'],
  [INS_PERFORM_SECURITY_OPERATION, 'PERFORM SECURITY OPERATION'],
  [INS_RESET_RETRY_COUNTER, 'RESET RETRY COUNTER'],
  [INS_ACTIVATE_FILE, 'ACTIVATE FILE'],
  [INS_GENERATE_ASYMMETRIC_KEY_PAIR, 'GENERATE ASYMMETRIC KEY PAIR'],
  [INS_MANAGE_CHANNEL, 'MANAGE CHANNEL'],
  [INS_EXTERNAL_AUTHENTICATE, 'EXTERNAL AUTHENTICATE'],
  [INS_GET_CHALLENGE, 'GET CHALLENGE'],
  [INS_GENERAL_AUTHENTICATE, 'GENERAL AUTHENTICATE'],
  [INS_INTERNAL_AUTHENTICATE, 'INTERNAL AUTHENTICATE'],
  [INS_SEARCH_BINARY, 'SEARCH BINARY'],
  [INS_SEARCH_RECORD, 'SEARCH RECORD'],
  [INS_SELECT, 'SELECT'],
  [INS_READ_BINARY, 'READ BINARY'],
  [INS_READ_RECORD, 'READ RECORD(S)'],
  [INS_GET_RESPONSE, 'GET RESPONSE'],
  [INS_ENVELOPE, 'ENVELOPE'],
  [INS_GET_DATA, 'GET DATA'],
  [INS_WRITE_BINARY, 'WRITE BINARY'],
  [INS_WRITE_RECORD, 'WRITE RECORD'],
  [INS_UPDATE_BINARY, 'UPDATE BINARY'],
  [INS_PUT_DATA, 'PUT DATA'],
  [INS_UPDATE_RECORD, 'UPDATE RECORD'],
  [INS_CREATE_FILE, 'CREATE FILE'],
  [INS_APPEND_RECORD, 'APPEND RECORD'],
  [INS_DELETE_FILE, 'DELETE FILE'],
  [INS_TERMINATE_DF, 'TERMINATE DF'],
  [INS_TERMINATE_EF, 'TERMINATE EF'],
  [INS_TERMINATE_CARD_USAGE, 'TERMINATE CARD USAGE'],
]);

/** Odd codes of Table 4 (BER-TLV data variants). */
const ODD: ReadonlySet<number> = new Set([
  0x0f, 0x21, 0x47, 0x87, 0xa1, 0xb1, 0xb3, 0xc3, 0xcb, 0xd1, 0xd7, 0xdb, 0xdd,
]);

export interface InsInfo {
  /** The ISO name, or undefined for a code Table 4 does not define. */
  name: string | undefined;
  /** False for 6X and 9X (ISO/IEC 7816-3). */
  valid: boolean;
  /** Odd INS: the data field is BER-TLV coded. */
  berTlvData: boolean;
}

/**
 * Looks up an instruction byte (ISO/IEC 7816-4:2013 §5.4.2).
 * @throws RangeError when `ins` is not a byte.
 */
export function insInfo(ins: number): InsInfo {
  if (!Number.isInteger(ins) || ins < 0 || ins > 255) throw new RangeError(`ins must be 0..255, got ${ins}`);
  const hi = ins >> 4;
  const valid = hi !== 0x6 && hi !== 0x9;
  const odd = (ins & 1) === 1;
  let name = INS_NAMES.get(ins);
  if (name === undefined && odd && ODD.has(ins)) name = INS_NAMES.get(ins - 1);
  return { name: valid ? name : undefined, valid, berTlvData: odd && ODD.has(ins) };
}
