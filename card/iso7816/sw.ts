/**
 * ISO/IEC 7816-4 §5.6 status words used across the project. The full table of meanings and
 * `describeSw()` live in `swTable.ts`.
 */
export type StatusWord = number;

export const SW_NO_ERROR = 0x9000;
export const SW_BYTES_REMAINING_00 = 0x6100; // 61xx: xx more bytes with GET RESPONSE
export const SW_WARNING_STATE_UNCHANGED = 0x6200;
export const SW_END_OF_FILE_REACHED = 0x6282;
export const SW_VERIFICATION_FAILED = 0x6300;
export const SW_COUNTER_BASE = 0x63c0; // 63Cx: x tries left
export const SW_MEMORY_FAILURE = 0x6581;
export const SW_WRONG_LENGTH = 0x6700;
export const SW_LOGICAL_CHANNEL_NOT_SUPPORTED = 0x6881;
export const SW_SECURE_MESSAGING_NOT_SUPPORTED = 0x6882;
export const SW_LAST_COMMAND_OF_CHAIN_EXPECTED = 0x6883;
export const SW_COMMAND_CHAINING_NOT_SUPPORTED = 0x6884;
export const SW_COMMAND_NOT_ALLOWED = 0x6900;
export const SW_COMMAND_INCOMPATIBLE_WITH_FILE = 0x6981;
export const SW_SECURITY_STATUS_NOT_SATISFIED = 0x6982;
export const SW_AUTHENTICATION_METHOD_BLOCKED = 0x6983;
export const SW_REFERENCE_DATA_NOT_USABLE = 0x6984;
export const SW_CONDITIONS_NOT_SATISFIED = 0x6985;
export const SW_COMMAND_NOT_ALLOWED_NO_EF = 0x6986;
export const SW_SM_DATA_OBJECTS_MISSING = 0x6987;
export const SW_SM_DATA_OBJECTS_INCORRECT = 0x6988;
export const SW_WRONG_DATA = 0x6a80;
export const SW_FUNCTION_NOT_SUPPORTED = 0x6a81;
export const SW_FILE_NOT_FOUND = 0x6a82;
export const SW_RECORD_NOT_FOUND = 0x6a83;
export const SW_NOT_ENOUGH_MEMORY = 0x6a84;
export const SW_INCORRECT_P1P2 = 0x6a86;
export const SW_REFERENCED_DATA_NOT_FOUND = 0x6a88;
export const SW_FILE_ALREADY_EXISTS = 0x6a89;
export const SW_WRONG_P1P2 = 0x6b00;
export const SW_CORRECT_LENGTH_00 = 0x6c00; // 6Cxx: resend with Le = xx
export const SW_INS_NOT_SUPPORTED = 0x6d00;
export const SW_CLA_NOT_SUPPORTED = 0x6e00;
export const SW_UNKNOWN = 0x6f00;

export function sw1(sw: StatusWord): number {
  return (sw >> 8) & 0xff;
}
export function sw2(sw: StatusWord): number {
  return sw & 0xff;
}
