import type { Command, Io } from '../Command.js';
import { UsageError } from '../Command.js';
import { CommandApdu } from '../../card/index.js';
import { ResponseApdu } from '../../card/index.js';
import { Cla, type ClaInfo } from '../../card/index.js';
import { insInfo } from '../../card/index.js';
import { category, describeSw } from '../../card/index.js';
import { TlvNode } from '../../card/index.js';
import { MalformedDataError } from '../../card/index.js';
import { fromHex, toHex } from '../../card/index.js';

const USAGE = 'apdu <hex…> [--json] [--response]';

function h2(b: number): string {
  return b.toString(16).toUpperCase().padStart(2, '0');
}

function spaced(hex: string): string {
  return hex.replace(/(..)(?!$)/g, '$1 ');
}

/** The JSON shape of a TLV object (documented in docs/apdu.md). */
interface TlvJson {
  tag: string;
  length: number;
  value?: string;
  children?: TlvJson[];
}

function tlvJson(n: TlvNode): TlvJson {
  return n.constructed
    ? { tag: n.tagHex, length: n.length, children: n.children.map(tlvJson) }
    : { tag: n.tagHex, length: n.length, value: toHex(n.valueView()) };
}

function tlvLines(n: TlvNode, indent: string, out: string[]): void {
  if (n.constructed) {
    out.push(`${indent}${n.tagHex} (${n.length} bytes)`);
    for (const c of n.children) tlvLines(c, indent + '  ', out);
  } else {
    out.push(`${indent}${n.tagHex} = ${toHex(n.valueView()) || '(empty)'}`);
  }
}

function claText(c: ClaInfo): string {
  if (c.invalid) return 'invalid (FF)';
  if (c.rfu) return 'RFU (001x xxxx)';
  const kind = c.proprietary
    ? c.layout
      ? `proprietary (read with the ${c.layout} interindustry layout, GlobalPlatform style)`
      : 'proprietary'
    : `${c.interindustry} interindustry`;
  if (c.layout === undefined) return kind;
  const sm = c.secureMessaging === 'none' ? 'no SM' : `SM ${c.secureMessaging}`;
  return `${kind}, channel ${c.channel}, ${sm}, ${c.chaining ? 'chaining (more commands follow)' : 'last or only command of a chain'}`;
}

/** The stable `--json` object for a command APDU (docs/apdu.md). */
export function commandJson(a: CommandApdu): Record<string, unknown> {
  const c = Cla.decode(a.cla);
  const ins = insInfo(a.ins);
  const enc = a.encode();
  // The Le field as it appears on the wire (without the extended 00 marker of case 2E).
  const leBytes = a.ne === undefined ? null : toHex(enc.subarray(enc.length - (a.extended ? 2 : 1)));
  return {
    kind: 'command',
    hex: toHex(enc),
    case: a.case,
    extended: a.extended,
    cla: {
      byte: h2(a.cla),
      interindustry: c.interindustry,
      proprietary: c.proprietary,
      invalid: c.invalid,
      rfu: c.rfu,
      layout: c.layout ?? null,
      chaining: c.chaining,
      secureMessaging: c.secureMessaging,
      channel: c.channel,
    },
    ins: { byte: h2(a.ins), name: ins.name ?? null, valid: ins.valid, berTlvData: ins.berTlvData },
    p1: h2(a.p1),
    p2: h2(a.p2),
    nc: a.nc,
    data: toHex(a.dataView()),
    ne: a.ne ?? null,
    le: leBytes,
  };
}

/** The stable `--json` object for a response APDU (docs/apdu.md). */
export function responseJson(r: ResponseApdu): Record<string, unknown> {
  let tlv: TlvJson[] | null = null;
  if (r.dataView().length > 0) {
    try {
      tlv = TlvNode.decodeAll(r.dataView()).nodes.map(tlvJson);
    } catch (e) {
      if (!(e instanceof MalformedDataError)) throw e;
    }
  }
  return {
    kind: 'response',
    hex: toHex(r.encode()),
    nr: r.dataView().length,
    data: toHex(r.dataView()),
    sw: h2(r.sw1) + h2(r.sw2),
    category: category(r.sw),
    description: describeSw(r.sw).slice(6),
    tlv,
  };
}

function printCommand(a: CommandApdu, io: Io): void {
  const ins = insInfo(a.ins);
  const j = commandJson(a);
  const lines = [
    `Command APDU  ${spaced(toHex(a.encode()))}`,
    `  case     ${a.case} (${a.case === '1' ? 'no body' : a.extended ? 'extended length' : 'short length'})`,
    `  CLA      ${h2(a.cla)}: ${claText(Cla.decode(a.cla))}`,
    `  INS      ${h2(a.ins)}: ${ins.valid ? (ins.name ?? 'not an interindustry instruction') : 'invalid (6X/9X)'}${ins.berTlvData ? ', BER-TLV data' : ''}`,
    `  P1 P2    ${h2(a.p1)} ${h2(a.p2)}`,
  ];
  if (a.nc > 0) lines.push(`  Nc       ${a.nc}: ${spaced(toHex(a.dataView()))}`);
  else lines.push('  Nc       0 (no data)');
  lines.push(
    a.ne === undefined ? '  Ne       absent (no Le field)' : `  Ne       ${a.ne} (Le = ${String(j.le)})`,
  );
  io.out(lines.join('\n') + '\n');
}

function printResponse(r: ResponseApdu, io: Io): void {
  const j = responseJson(r);
  const lines = [`Response APDU  ${spaced(toHex(r.encode()))}`];
  lines.push(
    `  data     ${r.dataView().length === 0 ? '(none)' : `${r.dataView().length} bytes: ${spaced(toHex(r.dataView()))}`}`,
  );
  lines.push(`  SW       ${describeSw(r.sw)} [${String(j.category)}]`);
  if (j.tlv !== null) {
    lines.push('  TLV');
    for (const n of TlvNode.decodeAll(r.dataView()).nodes) tlvLines(n, '    ', lines);
  }
  io.out(lines.join('\n') + '\n');
}

/** `meterpurse apdu <hex> [--json] [--response]`: decodes a command (or response) APDU. */
export const apduCommand: Command = {
  path: ['apdu'],
  summary: 'decode a command APDU (case, CLA, INS, P1-P2, Nc, Ne) or, with --response, a response and its SW',
  usage: USAGE,
  options: {
    json: { type: 'boolean', help: 'print the decoded APDU as JSON (docs/apdu.md)' },
    response: { type: 'boolean', help: 'the hex is a response APDU (data and SW1-SW2), not a command' },
  },
  examples: ['apdu 00A4040007A0000000031010', 'apdu 9000 --response', 'apdu 00 B0 00 00 10 --json'],
  async run(args: string[], io: Io): Promise<number> {
    let json = false;
    let response = false;
    const hexParts: string[] = [];
    for (const a of args) {
      if (a === '--json') json = true;
      else if (a === '--response') response = true;
      else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}; usage: meterpurse ${USAGE}`);
      else hexParts.push(a);
    }
    if (hexParts.length === 0) throw new UsageError(`missing APDU hex; usage: meterpurse ${USAGE}`);
    const bytes = fromHex(hexParts.join(''));
    if (response) {
      const r = ResponseApdu.decode(bytes);
      if (json) io.out(JSON.stringify(responseJson(r), null, 2) + '\n');
      else printResponse(r, io);
    } else {
      const a = CommandApdu.decode(bytes);
      if (json) io.out(JSON.stringify(commandJson(a), null, 2) + '\n');
      else printCommand(a, io);
    }
    return 0;
  },
};
