import {
  SW_COUNTER_EXHAUSTED,
  SW_INSUFFICIENT_BALANCE,
  SW_LIMIT_EXCEEDED,
  SW_MAX_BALANCE_EXCEEDED,
  SW_NO_PENDING_TRANSFER,
  SW_REPLAY,
  SW_TRANSFER_PENDING,
} from '../../applets/constants.js';

const NAMES: Record<number, string> = {
  [SW_INSUFFICIENT_BALANCE]: 'insufficient balance',
  [SW_MAX_BALANCE_EXCEEDED]: 'maximum balance exceeded',
  [SW_LIMIT_EXCEEDED]: 'per-transaction limit exceeded',
  [SW_COUNTER_EXHAUSTED]: 'transaction counter exhausted',
  [SW_TRANSFER_PENDING]: 'a transfer is pending',
  [SW_NO_PENDING_TRANSFER]: 'no pending transfer',
  [SW_REPLAY]: 'replay refused',
  0x6300: 'verification failed',
  0x6982: 'security status not satisfied',
  0x6985: 'conditions of use not satisfied',
  0x6a80: 'wrong data',
  0x6a88: 'referenced data not found',
  0x6700: 'wrong length',
};

/** "9401 (insufficient balance)". */
export function describeSw(sw: number): string {
  const hex = sw.toString(16).toUpperCase().padStart(4, '0');
  const name = NAMES[sw];
  return name ? `${hex} (${name})` : hex;
}
