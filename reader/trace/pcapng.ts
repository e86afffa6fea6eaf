/**
 * Import of USB CCID traffic captured with Wireshark / tcpdump on Linux usbmon, saved as pcapng.
 *
 * pcapng (IETF draft-ietf-opsawg-pcapng): a sequence of blocks, each `type(4) length(4) body
 * length(4)`, lengths a multiple of 4 and repeated at the end. A Section Header Block
 * (0x0A0D0D0A) starts each section; its byte-order magic 0x1A2B3C4D tells the byte order of the
 * section (both are read). Read here: Interface Description Blocks (1: link type, snap length),
 * Enhanced Packet Blocks (6: interface id, timestamp, captured and original length, data) and
 * Simple Packet Blocks (3: original length, data; interface 0). Every other block is skipped.
 *
 * Link types: LINKTYPE_USB_LINUX_MMAPPED (220, 64-byte usbmon header) and LINKTYPE_USB_LINUX
 * (189, its first 48 bytes). The usbmon header (Linux Documentation/usb/usbmon.rst, in the
 * byte order of the capturing host, taken to be the section's):
 * ```
 *  0 id(8)  8 type 'S'/'C'/'E'  9 xfer_type (3 bulk)  10 epnum (b7: IN)  11 devnum  12 busnum(2)
 * 14 flag_setup  15 flag_data  16 ts_sec(8)  24 ts_usec(4)  28 status(4)  32 length(4)
 * 36 len_cap(4)  40 setup(8)  [48 interval  52 start_frame  56 xfer_flags  60 ndesc: 220 only]
 * ```
 * then len_cap bytes of data. Only bulk transfers are read: the submission ('S') of a bulk-out
 * URB carries a PC_to_RDR message, the completion ('C') of a bulk-in URB an RDR_to_PC message.
 *
 * CCID (USB CCID specification rev 1.1 §6.1, §6.2): a 10-byte header `bMessageType dwLength(4,
 * little-endian) bSlot bSeq` + 3 message-specific bytes, then dwLength bytes. A reply carries the
 * bSlot and bSeq of its command. What becomes of each message:
 * - PC_to_RDR_IccPowerOn (62) answered by RDR_to_PC_DataBlock (80): the ATR — of the header
 *   (`@atr`) for the first one before any exchange, else a reset;
 * - PC_to_RDR_XfrBlock (6F) answered by RDR_to_PC_DataBlock: an exchange; a failed command
 *   (bmCommandStatus 1) an `! error`; time extension requests (bmCommandStatus 2) are waited out;
 * - RDR_to_PC_Parameters (82): the protocol (bProtocolNum 0 → T=0, 1 → T=1);
 * - everything else (slot status, escape, power off...) is skipped, as is bulk traffic that is
 *   not shaped as a CCID message (other devices on the bus).
 *
 * Levels of exchange: readers at short or extended APDU level (the XfrBlock holds the command
 * APDU, the DataBlock the response APDU; wLevelParameter 0000 and bChainParameter 00) are
 * read. Character level and TPDU level (T=1 blocks `NAD PCB LEN … LRC`, T=0 TPDUs with procedure
 * bytes), and APDU chaining across XfrBlocks (wLevelParameter ≠ 0), are refused with a
 * MalformedDataError that says so: their APDUs would have to be rebuilt from blocks.
 *
 * Outside data: every length is checked against what is left, the input is bounded
 * (`PCAPNG_LIMITS`), and anything malformed throws MalformedDataError (kind 'pcapng') with the
 * byte offset in the file.
 */
import { CommandApdu, MalformedDataError } from '../../card/index.js';
import type { Protocol } from '../CardChannel.js';
import { GET_CHALLENGE_RULE, Trace, TRACE_LIMITS, type TraceEvent } from './Trace.js';

const KIND = 'pcapng';

export const PCAPNG_LIMITS = Object.freeze({
  /** Bytes in the whole file (256 MiB). */
  maxBytes: 256 * 1024 * 1024,
  /** Interfaces per section. */
  maxInterfaces: 1024,
  /** CCID commands waiting for their reply. */
  maxPending: 4096,
});

export const LINKTYPE_USB_LINUX = 189;
export const LINKTYPE_USB_LINUX_MMAPPED = 220;

const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 0x00000001;
const BT_SPB = 0x00000003;
const BT_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

const CCID_POWER_ON = 0x62;
const CCID_XFR_BLOCK = 0x6f;
const CCID_DATA_BLOCK = 0x80;
const CCID_PARAMETERS = 0x82;
/** Bulk-out message types of CCID rev 1.1 (§6.1). */
const PC_TO_RDR = new Set([
  0x62, 0x63, 0x65, 0x6f, 0x6c, 0x6d, 0x61, 0x6b, 0x6a, 0x71, 0x72, 0x6e, 0x69, 0x73,
]);
/** Bulk-in message types (§6.2). */
const RDR_TO_PC = new Set([0x80, 0x81, 0x82, 0x83, 0x84]);

function fail(reason: string, offset: number): never {
  throw new MalformedDataError(reason, offset, undefined, KIND);
}

function hex2(b: number): string {
  return b.toString(16).toUpperCase().padStart(2, '0');
}

/** A pcapng block's packet: link type, its bytes, where they start in the file, its number. */
interface Packet {
  linkType: number;
  data: Uint8Array;
  offset: number;
  number: number;
  littleEndian: boolean;
}

/** Walks the blocks of a pcapng file and yields its packets. */
function* packets(bytes: Uint8Array): Generator<Packet> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  let le: boolean | undefined;
  let interfaces: number[] = [];
  let number = 0;
  if (bytes.length < 12) fail(`too short for a pcapng file: ${bytes.length} bytes`, 0);
  while (pos < bytes.length) {
    if (bytes.length - pos < 12) fail(`truncated block header: ${bytes.length - pos} bytes left`, pos);
    const rawType = dv.getUint32(pos, true);
    if (rawType === BT_SHB) {
      // The block type is a palindrome; the byte-order magic follows the length.
      const magicLe = dv.getUint32(pos + 8, true);
      if (magicLe === BYTE_ORDER_MAGIC) le = true;
      else if (dv.getUint32(pos + 8, false) === BYTE_ORDER_MAGIC) le = false;
      else fail(`section header without the byte-order magic 1A2B3C4D`, pos + 8);
      interfaces = [];
    } else if (le === undefined) {
      fail('not a pcapng file: it does not start with a section header block (0A0D0D0A)', pos);
    }
    const little = le!;
    const type = dv.getUint32(pos, little);
    const len = dv.getUint32(pos + 4, little);
    if (len < 12 || len % 4 !== 0) fail(`block length ${len}: at least 12 and a multiple of 4`, pos + 4);
    if (len > bytes.length - pos)
      fail(`block length ${len} runs past the end of the file (${bytes.length - pos} bytes left)`, pos + 4);
    if (dv.getUint32(pos + len - 4, little) !== len)
      fail(
        `the trailing block length ${dv.getUint32(pos + len - 4, little)} differs from ${len}`,
        pos + len - 4,
      );
    const body = pos + 8;
    const bodyLen = len - 12;
    if (type === BT_SHB) {
      if (bodyLen < 16) fail('section header block shorter than 28 bytes', pos);
      const major = dv.getUint16(body + 4, little);
      if (major !== 1) fail(`pcapng major version ${major}; 1 is read`, body + 4);
    } else if (type === BT_IDB) {
      if (bodyLen < 8) fail('interface description block shorter than 20 bytes', pos);
      if (interfaces.length >= PCAPNG_LIMITS.maxInterfaces)
        fail(`more than ${PCAPNG_LIMITS.maxInterfaces} interfaces`, pos);
      interfaces.push(dv.getUint16(body, little));
    } else if (type === BT_EPB) {
      if (bodyLen < 20) fail('enhanced packet block shorter than 32 bytes', pos);
      const id = dv.getUint32(body, little);
      const cap = dv.getUint32(body + 12, little);
      if (id >= interfaces.length)
        fail(`packet of interface ${id}, but ${interfaces.length} are described`, body);
      if (cap > bodyLen - 20)
        fail(`captured length ${cap} exceeds the block (${bodyLen - 20} bytes)`, body + 12);
      number++;
      yield {
        linkType: interfaces[id]!,
        data: bytes.subarray(body + 20, body + 20 + cap),
        offset: body + 20,
        number,
        littleEndian: little,
      };
    } else if (type === BT_SPB) {
      if (bodyLen < 4) fail('simple packet block shorter than 16 bytes', pos);
      if (interfaces.length === 0) fail('simple packet block without an interface description', pos);
      const orig = dv.getUint32(body, little);
      const cap = Math.min(orig, bodyLen - 4);
      number++;
      yield {
        linkType: interfaces[0]!,
        data: bytes.subarray(body + 4, body + 4 + cap),
        offset: body + 4,
        number,
        littleEndian: little,
      };
    }
    pos += len;
  }
}

/** One bulk URB's data from a usbmon packet, or undefined for anything but bulk data. */
function usbBulk(
  p: Packet,
): { out: boolean; dev: string; data: Uint8Array; offset: number; timeUs: number } | undefined {
  const headerLen = p.linkType === LINKTYPE_USB_LINUX_MMAPPED ? 64 : 48;
  const d = p.data;
  if (d.length < headerLen) fail(`usbmon header truncated: ${d.length} of ${headerLen} bytes`, p.offset);
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const le = p.littleEndian;
  const type = d[8]!;
  const xfer = d[9]!;
  const ep = d[10]!;
  if (xfer !== 3) return undefined; // not bulk
  const lenCap = dv.getUint32(36, le);
  let start = headerLen;
  if (p.linkType === LINKTYPE_USB_LINUX_MMAPPED) {
    const ndesc = dv.getUint32(60, le);
    if (ndesc > (d.length - 64) / 16) fail(`usbmon ndesc ${ndesc} runs past the packet`, p.offset + 60);
    start += ndesc * 16;
  }
  if (lenCap > d.length - start)
    fail(`usbmon len_cap ${lenCap} exceeds the ${d.length - start} data bytes captured`, p.offset + 36);
  const out = (ep & 0x80) === 0;
  // Bulk OUT data travels with the submission, bulk IN data with the completion.
  if (out ? type !== 0x53 : type !== 0x43) return undefined;
  if (lenCap === 0) return undefined;
  const sec = Number(dv.getBigInt64(16, le));
  const usec = dv.getInt32(24, le);
  return {
    out,
    dev: `${dv.getUint16(12, le)}.${d[11]}`,
    data: d.subarray(start, start + lenCap),
    offset: p.offset + start,
    timeUs: sec * 1e6 + usec,
  };
}

interface Pending {
  type: number;
  command: Uint8Array;
  number: number;
  timeUs: number;
}

/**
 * Reads a pcapng capture of USB CCID traffic (usbmon link types 220 / 189) into a trace.
 * @throws MalformedDataError (kind 'pcapng') with the byte offset, for a malformed file or an
 *   unsupported level of exchange (TPDU, character, APDU chaining).
 * @throws TypeError when `bytes` is not a Uint8Array.
 */
export function importPcapng(bytes: Uint8Array): Trace {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  if (bytes.length > PCAPNG_LIMITS.maxBytes)
    fail(`file longer than ${PCAPNG_LIMITS.maxBytes} bytes`, PCAPNG_LIMITS.maxBytes);
  const events: TraceEvent[] = [];
  const pending = new Map<string, Pending>();
  let atr: Uint8Array | undefined;
  let protocol: Protocol | undefined;
  let usb = 0;
  let ccid = 0;
  for (const p of packets(bytes)) {
    if (p.linkType !== LINKTYPE_USB_LINUX_MMAPPED && p.linkType !== LINKTYPE_USB_LINUX) continue;
    usb++;
    const u = usbBulk(p);
    if (!u || u.data.length < 10) continue;
    const m = u.data;
    const mdv = new DataView(m.buffer, m.byteOffset, m.byteLength);
    const type = m[0]!;
    const dwLength = mdv.getUint32(1, true);
    // Not a CCID message (another device, or a continuation): skip.
    if (!(u.out ? PC_TO_RDR : RDR_TO_PC).has(type) || dwLength !== m.length - 10) continue;
    ccid++;
    const key = `${u.dev}/${m[5]}/${m[6]}`;
    const payload = m.subarray(10);
    if (u.out) {
      if (type === CCID_XFR_BLOCK) {
        const level = mdv.getUint16(8, true);
        if (level !== 0)
          fail(
            `packet ${p.number}: XfrBlock with wLevelParameter ${level.toString(16).padStart(4, '0')}: APDU chaining across XfrBlocks (extended APDU level in parts) is not supported`,
            u.offset + 8,
          );
        checkApdu(payload, p.number, u.offset + 10);
      }
      if (pending.size >= PCAPNG_LIMITS.maxPending)
        fail(`more than ${PCAPNG_LIMITS.maxPending} CCID commands without a reply`, u.offset);
      pending.set(key, { type, command: payload.slice(), number: p.number, timeUs: u.timeUs });
      continue;
    }
    const cmd = pending.get(key);
    if (!cmd) continue; // a reply to a command not captured
    const status = m[7]! >> 6;
    if (status === 2) continue; // time extension: the real reply follows with the same bSeq
    pending.delete(key);
    if (type === CCID_PARAMETERS && status === 0 && payload.length > 0 && m[9]! <= 1)
      protocol = m[9] === 0 ? 'T=0' : 'T=1';
    if (type !== CCID_DATA_BLOCK) continue;
    if (m[9] !== 0)
      fail(
        `packet ${p.number}: DataBlock with bChainParameter ${hex2(m[9]!)}: responses in parts are not supported`,
        u.offset + 9,
      );
    if (cmd.type === CCID_POWER_ON) {
      if (status !== 0) continue;
      if (payload.length < 2 || payload.length > 33)
        fail(`packet ${p.number}: an ATR has 2 to 33 bytes, not ${payload.length}`, u.offset + 10);
      if (atr === undefined && events.length === 0) atr = payload.slice();
      else
        events.push({
          type: 'reset',
          atr: payload.slice(),
          comments: [' PC_to_RDR_IccPowerOn'],
          line: p.number,
        });
    } else if (cmd.type === CCID_XFR_BLOCK) {
      const durationMs = Math.max(0, (u.timeUs - cmd.timeUs) / 1000);
      if (status !== 0) {
        events.push({
          type: 'exchange',
          command: cmd.command,
          error: `CCID command failed: bError ${hex2(m[8]!)}, bmICCStatus ${m[7]! & 3}`,
          comments: [],
          line: cmd.number,
          durationMs,
        });
      } else {
        if (payload.length < 2)
          fail(
            `packet ${p.number}: the response holds less than SW1 SW2 (${payload.length} bytes)`,
            u.offset + 10,
          );
        events.push({
          type: 'exchange',
          command: cmd.command,
          response: payload.slice(),
          comments: [],
          line: cmd.number,
          durationMs,
        });
      }
    }
    if (events.length > TRACE_LIMITS.maxEvents) fail(`more than ${TRACE_LIMITS.maxEvents} events`, u.offset);
  }
  if (usb === 0) fail('no packet of link type 220 or 189 (Linux usbmon): not a USB capture', 0);
  if (ccid === 0) fail('no USB CCID message in the capture', 0);
  return new Trace(
    {
      tool: 'imported from pcapng (USB CCID)',
      ...(protocol ? { protocol } : {}),
      ...(atr ? { atr } : {}),
      rules: [GET_CHALLENGE_RULE],
    },
    events,
  );
}

/**
 * The XfrBlock must hold a command APDU. A T=1 block (NAD PCB LEN INF LRC, with a correct LRC)
 * whose PCB is an S-block (11xxxxxx) is TPDU level, as is anything that is not an APDU.
 */
function checkApdu(b: Uint8Array, number: number, offset: number): void {
  const tpdu = `packet ${number}: the XfrBlock holds no command APDU; TPDU and character level readers (T=1 blocks NAD PCB LEN … LRC, T=0 TPDUs) are not supported, only short and extended APDU level`;
  if (b.length >= 4 && b[2] === b.length - 4 && (b[1]! & 0xc0) === 0xc0) {
    let x = 0;
    for (const v of b) x ^= v;
    if (x === 0) fail(tpdu, offset);
  }
  try {
    CommandApdu.decode(b);
  } catch (e) {
    if (e instanceof MalformedDataError) fail(`${tpdu} (${e.reason})`, offset);
    throw e;
  }
}
