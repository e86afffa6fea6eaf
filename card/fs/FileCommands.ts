/**
 * The interindustry file commands (ISO/IEC 7816-4 §11.2, §11.3): SELECT by FID / path / parent,
 * READ and UPDATE BINARY, READ, UPDATE and APPEND RECORD, with access conditions checked against
 * the channel's security status. The format of a command is checked completely before any state
 * (persistent or volatile) is touched.
 */
import type { CommandApdu } from '../iso7816/CommandApdu.js';
import { SwError } from '../iso7816/errors.js';
import { ResponseApdu } from '../iso7816/ResponseApdu.js';
import { u16 } from '../util/bigEndian.js';
import {
  SW_COMMAND_INCOMPATIBLE_WITH_FILE,
  SW_COMMAND_NOT_ALLOWED_NO_EF,
  SW_END_OF_FILE_REACHED,
  SW_FILE_NOT_FOUND,
  SW_INCORRECT_P1P2,
  SW_RECORD_NOT_FOUND,
  SW_SECURITY_STATUS_NOT_SATISFIED,
  SW_WRONG_LENGTH,
} from '../iso7816/sw.js';
import { isSatisfied, type AccessRule } from '../security/AccessCondition.js';
import type { CommandContext, HandlerResult } from '../os/Applet.js';
import { fci, fcp, fmd } from './fcp.js';
import { FID_MF } from './FileSystem.js';
import type { DfNode, EfNode } from './nodes.js';

export const INS_SELECT = 0xa4;
export const INS_READ_BINARY = 0xb0;
export const INS_UPDATE_BINARY = 0xd6;
export const INS_READ_RECORD = 0xb2;
export const INS_UPDATE_RECORD = 0xdc;
export const INS_APPEND_RECORD = 0xe2;

const EMPTY = new Uint8Array(0);

/** @throws SwError 6982 when the rule is not satisfied on this channel. */
export function requireAccess(rule: AccessRule, ctx: CommandContext): void {
  if (!isSatisfied(rule, ctx.channel.security)) throw new SwError(SW_SECURITY_STATUS_NOT_SATISFIED);
}

/**
 * Checks P2 of SELECT (7816-4 Table 40) and returns the response it asks for.
 * @throws SwError 6A86 for RFU bits or an occurrence other than "first" when `occurrence` is false.
 */
export function selectResponseKind(p2: number, occurrence: boolean): 'fci' | 'fcp' | 'fmd' | 'none' {
  if ((p2 & 0xf0) !== 0 || (!occurrence && (p2 & 0x03) !== 0)) throw new SwError(SW_INCORRECT_P1P2);
  return (['fci', 'fcp', 'fmd', 'none'] as const)[(p2 >> 2) & 3]!;
}

/** The response data SELECT returns for `node` (7816-4 §11.2.2). */
export function selectResponse(
  node: DfNode | EfNode,
  kind: 'fci' | 'fcp' | 'fmd' | 'none',
  ctx: CommandContext,
): Uint8Array {
  if (kind === 'none') return EMPTY;
  if (kind === 'fcp') return fcp(node, ctx.fs);
  if (kind === 'fmd') return fmd(node);
  return fci(node, ctx.fs);
}

function fidsOf(data: Uint8Array): number[] {
  if (data.length === 0 || data.length % 2 !== 0)
    throw new SwError(SW_WRONG_LENGTH, 'a path is a list of 2-byte FIDs');
  const out: number[] = [];
  for (let i = 0; i < data.length; i += 2) out.push(u16(data, i));
  return out;
}

/**
 * SELECT with P1 = 00 (FID), 01 (child DF), 02 (EF), 03 (parent DF), 08 (path from MF),
 * 09 (path from the current DF). P1 = 04 (DF name) is the OS's, as it also selects applets.
 * @throws SwError 6A86 bad P1/P2, 6700 bad data length, 6A82 file not found.
 */
export function selectFile(apdu: CommandApdu, ctx: CommandContext): HandlerResult {
  const kind = selectResponseKind(apdu.p2, false);
  const data = apdu.dataView();
  const ch = ctx.channel;
  const fs = ctx.fs;
  let node: DfNode | EfNode | undefined;
  switch (apdu.p1) {
    case 0x00: {
      if (data.length === 0) {
        node = fs.mf;
        break;
      }
      if (data.length !== 2) throw new SwError(SW_WRONG_LENGTH, 'FID is 2 bytes');
      const fid = u16(data);
      const df = ch.currentDf;
      // 7816-4 §7.1.1: the MF, the current DF, its children, its parent, the parent's children.
      if (fid === FID_MF) node = fs.mf;
      else if (fid === df.fid) node = df;
      else node = df.child(fid) ?? (df.parent && (df.parent.fid === fid ? df.parent : df.parent.child(fid)));
      break;
    }
    case 0x01:
    case 0x02: {
      if (data.length !== 2) throw new SwError(SW_WRONG_LENGTH, 'FID is 2 bytes');
      const c = ch.currentDf.child(u16(data));
      node = c && (c.kind === 'df') === (apdu.p1 === 0x01) ? c : undefined;
      break;
    }
    case 0x03:
      if (data.length !== 0) throw new SwError(SW_WRONG_LENGTH, 'SELECT parent takes no data');
      node = ch.currentDf.parent;
      break;
    case 0x08:
    case 0x09: {
      const fids = fidsOf(data);
      node = fs.resolvePath(apdu.p1 === 0x08 ? fs.mf : ch.currentDf, fids);
      break;
    }
    default:
      throw new SwError(SW_INCORRECT_P1P2);
  }
  if (!node) throw new SwError(SW_FILE_NOT_FOUND);
  const response = selectResponse(node, kind, ctx);
  ch.setCurrent(node);
  return response;
}

/**
 * The EF addressed by P1 of a BINARY command: short EF identifier (P1 = 100x xxxx) or the
 * current EF, with the offset (7816-4 §11.2.3).
 * @throws SwError 6A86, 6A82, 6986.
 */
function binaryTarget(apdu: CommandApdu, ctx: CommandContext): { ef: EfNode; offset: number } {
  if ((apdu.p1 & 0x80) !== 0) {
    if ((apdu.p1 & 0x60) !== 0) throw new SwError(SW_INCORRECT_P1P2);
    const sfi = apdu.p1 & 0x1f;
    if (sfi === 0 || sfi === 31) throw new SwError(SW_INCORRECT_P1P2);
    const ef = ctx.channel.currentDf.bySfi(sfi);
    if (!ef) throw new SwError(SW_FILE_NOT_FOUND, `no EF with SFI ${sfi}`);
    return { ef, offset: apdu.p2 };
  }
  const ef = ctx.channel.currentEf;
  if (!ef) throw new SwError(SW_COMMAND_NOT_ALLOWED_NO_EF);
  return { ef, offset: (apdu.p1 << 8) | apdu.p2 };
}

/**
 * READ BINARY (B0). Le = 00 (or 0000) reads to the end of file with 9000; a shorter file than
 * an explicit Le gives the bytes there are with 6282 (7816-4 §11.2.3).
 * @throws SwError 6700 (no Le), 6981, 6982, 6986, 6A82, 6A86, 6B00.
 */
export function readBinary(apdu: CommandApdu, ctx: CommandContext): HandlerResult {
  if (apdu.ne === undefined || apdu.nc !== 0) throw new SwError(SW_WRONG_LENGTH, 'READ BINARY is case 2');
  const { ef, offset } = binaryTarget(apdu, ctx);
  if (ef.isRecord) throw new SwError(SW_COMMAND_INCOMPATIBLE_WITH_FILE);
  requireAccess(ef.read, ctx);
  const wildcard = apdu.ne === 65536 || (apdu.ne === 256 && !apdu.extended);
  const data = ctx.fs.readBinary(ef, offset, apdu.ne);
  // An EF addressed by SFI becomes current only when the command succeeds.
  if (ctx.channel.currentEf !== ef) ctx.channel.setCurrent(ef);
  if (data.length < apdu.ne && !wildcard) return new ResponseApdu(data, SW_END_OF_FILE_REACHED);
  return data;
}

/** UPDATE BINARY (D6). @throws SwError 6700, 6981, 6982, 6986, 6A82, 6A84, 6A86, 6B00. */
export function updateBinary(apdu: CommandApdu, ctx: CommandContext): HandlerResult {
  if (apdu.nc === 0) throw new SwError(SW_WRONG_LENGTH, 'UPDATE BINARY needs data');
  const { ef, offset } = binaryTarget(apdu, ctx);
  if (ef.isRecord) throw new SwError(SW_COMMAND_INCOMPATIBLE_WITH_FILE);
  requireAccess(ef.update, ctx);
  ctx.fs.updateBinary(ef, offset, apdu.dataView());
  if (ctx.channel.currentEf !== ef) ctx.channel.setCurrent(ef);
}

/** The EF addressed by P2 b8-b4 of a RECORD command (00000: current EF). */
function recordEf(p2: number, ctx: CommandContext): EfNode {
  const sfi = p2 >> 3;
  if (sfi === 31) throw new SwError(SW_INCORRECT_P1P2);
  let ef: EfNode | undefined;
  if (sfi === 0) {
    ef = ctx.channel.currentEf;
    if (!ef) throw new SwError(SW_COMMAND_NOT_ALLOWED_NO_EF);
  } else {
    ef = ctx.channel.currentDf.bySfi(sfi);
    if (!ef) throw new SwError(SW_FILE_NOT_FOUND, `no EF with SFI ${sfi}`);
  }
  if (!ef.isRecord) throw new SwError(SW_COMMAND_INCOMPATIBLE_WITH_FILE, 'not a record EF');
  return ef;
}

/**
 * The record number addressed by P1 and P2 b3-b1 (7816-4 Table 49): 100 = record P1 (00: the
 * current record); with P1 = 00, 000 first, 001 last, 010 next, 011 previous. Record
 * identifiers (P1 ≠ 00 with 0xx) are not supported (6A86); READ RECORD also takes 101 / 110
 * (all records from P1 to the last / from the last to P1).
 */
function recordNumber(apdu: CommandApdu, ctx: CommandContext, ef: EfNode): number {
  const mode = apdu.p2 & 0x07;
  const count = ctx.fs.recordCount(ef);
  const current = ctx.channel.currentEf === ef ? ctx.channel.recordPointer : undefined;
  let n: number | undefined;
  if (mode === 4) n = apdu.p1 !== 0 ? apdu.p1 : current;
  else if (mode <= 3 && apdu.p1 === 0) {
    if (mode === 0) n = 1;
    else if (mode === 1) n = count;
    else if (mode === 2) n = current === undefined ? 1 : current + 1;
    else n = current === undefined ? count : current - 1;
  } else throw new SwError(SW_INCORRECT_P1P2);
  if (n === undefined || n < 1 || n > count) throw new SwError(SW_RECORD_NOT_FOUND);
  return n;
}

/** P1/P2 format of READ/UPDATE RECORD, checked before anything else. */
function checkRecordP1P2(apdu: CommandApdu, allModes = false): void {
  const mode = apdu.p2 & 0x07;
  const multi = allModes && (mode === 5 || mode === 6);
  if (apdu.p2 >> 3 === 31 || (mode > 4 && !multi) || (mode < 4 && apdu.p1 !== 0) || (multi && apdu.p1 === 0))
    throw new SwError(SW_INCORRECT_P1P2);
}

/** READ RECORD (B2). @throws SwError 6700, 6981, 6982, 6986, 6A82, 6A83, 6A86. */
export function readRecord(apdu: CommandApdu, ctx: CommandContext): HandlerResult {
  if (apdu.ne === undefined || apdu.nc !== 0) throw new SwError(SW_WRONG_LENGTH, 'READ RECORD is case 2');
  checkRecordP1P2(apdu, true);
  const ef = recordEf(apdu.p2, ctx);
  requireAccess(ef.read, ctx);
  const mode = apdu.p2 & 0x07;
  if (mode === 5 || mode === 6) {
    // 7816-4 Table 49: 101 all records from P1 up to the last, 110 from the last down to P1;
    // the records are concatenated (the OS applies Le / GET RESPONSE to the whole).
    const count = ctx.fs.recordCount(ef);
    if (apdu.p1 > count) throw new SwError(SW_RECORD_NOT_FOUND);
    const numbers: number[] = [];
    for (let n = apdu.p1; n <= count; n++) numbers.push(n);
    if (mode === 6) numbers.reverse();
    const parts = numbers.map((n) => ctx.fs.readRecord(ef, n));
    setRecord(ctx, ef, numbers[numbers.length - 1]!);
    const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
  const n = recordNumber(apdu, ctx, ef);
  const data = ctx.fs.readRecord(ef, n);
  setRecord(ctx, ef, n);
  return data;
}

/**
 * After a successful record command: the EF becomes current and `n` its current record. Only
 * then — a refused command leaves the channel's selection as it was.
 */
function setRecord(ctx: CommandContext, ef: EfNode, n: number): void {
  if (ctx.channel.currentEf !== ef) ctx.channel.setCurrent(ef);
  ctx.channel.recordPointer = n;
}

/** UPDATE RECORD (DC). @throws SwError 6700, 6981, 6982, 6986, 6A82, 6A83, 6A86. */
export function updateRecord(apdu: CommandApdu, ctx: CommandContext): HandlerResult {
  if (apdu.nc === 0) throw new SwError(SW_WRONG_LENGTH, 'UPDATE RECORD needs data');
  checkRecordP1P2(apdu);
  const ef = recordEf(apdu.p2, ctx);
  requireAccess(ef.update, ctx);
  const n = recordNumber(apdu, ctx, ef);
  ctx.fs.updateRecord(ef, n, apdu.dataView());
  setRecord(ctx, ef, n);
}

/** APPEND RECORD (E2): P1 = 00, P2 = SFI << 3. @throws SwError 6700, 6981, 6982, 6986, 6A82, 6A84, 6A86. */
export function appendRecord(apdu: CommandApdu, ctx: CommandContext): HandlerResult {
  if (apdu.nc === 0) throw new SwError(SW_WRONG_LENGTH, 'APPEND RECORD needs data');
  if (apdu.p1 !== 0 || (apdu.p2 & 0x07) !== 0) throw new SwError(SW_INCORRECT_P1P2);
  const ef = recordEf(apdu.p2, ctx);
  requireAccess(ef.append, ctx);
  const n = ctx.fs.appendRecord(ef, apdu.dataView());
  setRecord(ctx, ef, n);
}
