/**
 * CRC-16/IBM-3740 (also called CRC-16/CCITT-FALSE): width 16, poly 0x1021, init 0xFFFF, no
 * reflection, xorout 0. Check value over ASCII "123456789" = 0x29B1 (Greg Cook's CRC catalogue,
 * "CRC-16/IBM-3740"). Table-driven, one byte at a time.
 */
const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

export function crc16(data: Uint8Array, start = 0, end = data.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ data[i]!) & 0xff]!;
  return crc;
}
