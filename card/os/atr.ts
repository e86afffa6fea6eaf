/**
 * ATRs of the simulated cards (ISO/IEC 7816-3 §8.2; historical bytes 7816-4 §8.1.1).
 * ```
 *  T=0 only:  3B 0K  hist                         no TDi: T=0 alone, so no TCK (7816-3 §8.2.5)
 *  T=1 only:  3B 8K  81 31 FE 45  hist  TCK       TD1 81: TD2 follows, T=1; TD2 31: TA3 TB3, T=1;
 *                                                  TA3 FE: IFSC 254; TB3 45: BWI 4, CWI 5
 *  hist:      80 73 00 00 cc                      category 80, card capabilities (tag 7, len 3);
 *                                                  cc: b7 extended Lc/Le, b5-b4 11 channel numbers
 *                                                  assigned by card and terminal, b3-b1 channels - 1
 * ```
 */
export interface AtrOptions {
  protocol: 'T=0' | 'T=1';
  /** Number of logical channels, 1..20 (b3-b1 saturate at 7 meaning eight or more). */
  channels: number;
  extendedLength: boolean;
}

/** Builds the ATR, with TCK = XOR of T0..last historical byte when T=1 is offered. */
export function buildAtr(o: AtrOptions): Uint8Array {
  const caps =
    (o.extendedLength ? 0x40 : 0) | (o.channels > 1 ? 0x18 : 0) | Math.min(7, Math.max(0, o.channels - 1));
  const hist = [0x80, 0x73, 0x00, 0x00, caps];
  const k = hist.length;
  if (o.protocol === 'T=0') return Uint8Array.from([0x3b, k, ...hist]);
  const body = [0x80 | k, 0x81, 0x31, 0xfe, 0x45, ...hist];
  let tck = 0;
  for (const b of body) tck ^= b;
  return Uint8Array.from([0x3b, ...body, tck]);
}
