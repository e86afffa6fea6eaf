import type { Command, Io } from '../Command.js';
import { UsageError } from '../Command.js';
import { Atr, CLOCK_3_5712_MHZ } from '../../card/index.js';
import type { CardCapabilities, CardServiceData, HistoricalBytes } from '../../card/index.js';
import { fromHex } from '../../card/index.js';

const USAGE = 'atr <hex…> [--json] [--clock <Hz>] [--tolerant | --tolerate-wrong-tck]';

function h2(b: number): string {
  return b.toString(16).toUpperCase().padStart(2, '0');
}

function spaced(hex: string): string {
  return hex.replace(/(..)(?!$)/g, '$1 ');
}

function rate(bps: number | undefined): string {
  return bps === undefined ? 'RFU' : `${Math.round(bps).toLocaleString('en-US')} bit/s`;
}

function mhz(hz: number): string {
  return `${hz / 1e6} MHz`;
}

function flags(obj: object): string {
  const on = Object.entries(obj)
    .filter(([, v]) => v === true)
    .map(([k]) => k);
  return on.length ? on.join(', ') : 'none';
}

function serviceData(s: CardServiceData): string {
  return `${flags({
    'selection by full DF name': s.applicationSelectionByFullDfName,
    'selection by partial DF name': s.applicationSelectionByPartialDfName,
    'BER-TLV in EF.DIR': s.berTlvDataObjectsInEfDir,
    'BER-TLV in EF.ATR': s.berTlvDataObjectsInEfAtr,
  })}; EF.DIR/EF.ATR by ${s.efDirAtrAccess}; ${s.hasMasterFile ? 'with' : 'without'} MF`;
}

function capabilities(c: CardCapabilities, out: string[]): void {
  const s = c.selection;
  const selection = flags({
    'DF by full name': s.byFullDfName,
    'DF by partial name': s.byPartialDfName,
    'DF by path': s.byPath,
    'DF by file identifier': s.byFileIdentifier,
    'implicit DF': s.implicitDf,
    'short EF identifier': s.shortEfIdentifier,
    'record number': s.recordNumber,
    'record identifier': s.recordIdentifier,
  });
  out.push(`      selection: ${selection}`);
  if (c.dataCoding) {
    const d = c.dataCoding;
    out.push(
      `      data coding: ${d.efsOfTlvStructure ? 'TLV EFs, ' : ''}${d.writeBehaviour}, 'FF' tag ${d.ffTagValid ? 'valid' : 'invalid'}, data unit ${d.dataUnitQuartets} quartet(s)`,
    );
  }
  if (c.commands) {
    const m = c.commands;
    out.push(
      `      commands: chaining ${m.commandChaining ? 'yes' : 'no'}, extended Lc/Le ${m.extendedLcLe ? 'yes' : 'no'}, logical channels ${m.logicalChannelAssignment}, max ${m.maxLogicalChannels === 8 ? '8 or more' : m.maxLogicalChannels}`,
    );
  }
}

function historical(h: HistoricalBytes, out: string[]): void {
  if (h.category === 'none') {
    out.push('Historical bytes: none');
    return;
  }
  const names: Record<string, string> = {
    'compact-tlv-with-status': 'COMPACT-TLV, status indicator in the last 3 bytes',
    'compact-tlv': 'COMPACT-TLV',
    'dir-data-reference': 'DIR data reference',
    rfu: 'RFU',
    proprietary: 'proprietary',
  };
  const ascii = Buffer.from(h.hex, 'hex')
    .toString('latin1')
    .replace(/[^\x20-\x7e]/g, '.');
  out.push(`Historical bytes: ${spaced(h.hex)}  "${ascii}"`);
  out.push(`  category ${h2(h.categoryIndicator!)}: ${names[h.category]}`);
  if (h.pcscContactless) {
    const p = h.pcscContactless;
    out.push(
      `  PC/SC contactless storage card: RID ${p.rid}, standard ${h2(p.standard)}, card name ${p.cardName.toString(16).toUpperCase().padStart(4, '0')}`,
    );
  }
  if (h.dirDataReference !== undefined) out.push(`  DIR data reference: ${h2(h.dirDataReference)}`);
  for (const o of h.objects) {
    out.push(`  tag ${o.tag.toString(16).toUpperCase()} ${o.name}: ${spaced(o.value) || '(empty)'}`);
    if (o.tag === 3 && h.cardServiceData) out.push(`      ${serviceData(h.cardServiceData)}`);
    if (o.tag === 7 && h.cardCapabilities) capabilities(h.cardCapabilities, out);
    if (o.tag === 1 && h.country)
      out.push(`      country ${h.country.code}, national data ${h.country.nationalData || '-'}`);
  }
  if (h.status) {
    const s = h.status;
    const parts: string[] = [];
    if (s.lcs !== undefined) parts.push(`LCS ${h2(s.lcs)} (${s.lifeCycle})`);
    if (s.sw !== undefined) parts.push(`SW ${s.sw.toString(16).toUpperCase().padStart(4, '0')}`);
    out.push(`  status indicator: ${parts.join(', ')}`);
  }
  if (h.problem) out.push(`  problem at offset ${h.problem.offset}: ${h.problem.reason}`);
}

/** Human-readable analysis, one line per ATR byte, then the derived parameters. */
export function describeAtr(a: Atr, clockHz: number): string {
  const out: string[] = [];
  out.push(`ATR: ${spaced(a.toHex())} (${a.length} bytes)`);
  out.push(`  TS  ${h2(a.ts)}  ${a.convention} convention`);
  const y1 = a.t0 >> 4;
  out.push(`  T0  ${h2(a.t0)}  Y1=${y1.toString(2).padStart(4, '0')}, K=${a.k} historical byte(s)`);
  let t = 0; // T announced by the previous TD
  for (const g of a.groups) {
    const i = g.index;
    if (g.ta !== undefined) {
      let what: string;
      if (i === 1) {
        const fi = a.fi;
        const di = a.di;
        what = `Fi=${fi ?? 'RFU'}, Di=${di ?? 'RFU'}, f(max)=${a.fmax === undefined ? 'RFU' : mhz(a.fmax)}${
          fi && di ? `, ${fi / di} cycles/etu` : ''
        }`;
      } else if (i === 2) {
        const m = a.specificMode!;
        what = `specific mode: T=${m.protocol}, ${m.canChangeMode ? 'can' : 'unable to'} change mode, etu ${m.implicitEtu ? 'implicit' : 'from Fi/Di'}`;
      } else if (t === 1) what = `T=1 IFSC=${g.ta}`;
      else if (t === 15)
        what = `T=15 clock stop ${['not supported', 'state L', 'state H', 'no preference'][g.ta >> 6]}, classes ${
          ['A', 'B', 'C'].filter((_, b) => g.ta! & (1 << b)).join(' ') || 'none'
        }${g.ta & 0x38 ? ' + RFU bits' : ''}`;
      else what = `specific to T=${t}`;
      out.push(`  TA${i} ${h2(g.ta)}  ${what}`);
    }
    if (g.tb !== undefined) {
      let what: string;
      if (i === 1 || i === 2) what = 'programming voltage (deprecated, ignored)';
      else if (t === 1) what = `T=1 BWI=${g.tb >> 4}, CWI=${g.tb & 15}`;
      else if (t === 15)
        what = `T=15 SPU ${g.tb === 0 ? 'not used' : g.tb & 0x80 ? 'proprietary' : 'standard'}`;
      else what = `specific to T=${t}`;
      out.push(`  TB${i} ${h2(g.tb)}  ${what}`);
    }
    if (g.tc !== undefined) {
      let what: string;
      if (i === 1)
        what = `N=${g.tc}: extra guard time${g.tc === 255 ? ' (12 etu for T=0, 11 etu for T=1)' : ''}`;
      else if (i === 2) what = `T=0 WI=${g.tc}`;
      else if (t === 1) what = `T=1 error detection ${g.tc & 1 ? 'CRC' : 'LRC'}`;
      else what = `specific to T=${t}`;
      out.push(`  TC${i} ${h2(g.tc)}  ${what}`);
    }
    if (g.td !== undefined) {
      t = g.td & 15;
      out.push(
        `  TD${i} ${h2(g.td)}  Y${i + 1}=${(g.td >> 4).toString(2).padStart(4, '0')}, T=${t}${t === 15 ? ' (global bytes follow)' : ''}`,
      );
    }
  }
  const tck = a.tck;
  out.push(
    tck.present
      ? `  TCK ${h2(tck.value!)}  ${tck.valid ? 'correct' : 'WRONG (accepted on request)'}`
      : tck.valid
        ? '  TCK absent (only T=0 is indicated)'
        : `  TCK MISSING (required: not only T=0 is indicated; accepted on request), should be ${h2(a.expectedTck!)}`,
  );
  out.push('');
  out.push(
    `Protocols offered: ${a.protocols.map((p) => `T=${p}`).join(', ')}${a.globalT15 ? '; global T=15 bytes' : ''}`,
  );
  out.push(
    `Fi/Di: ${a.fi ?? 'RFU'}/${a.di ?? 'RFU'}${a.ta(1) === undefined ? ' (TA1 absent: defaults)' : ''}; bit rate ${rate(a.baudRate())} at f(max) ${a.fmax === undefined ? 'RFU' : mhz(a.fmax)}, ${rate(a.baudRate(clockHz))} at ${mhz(clockHz)}`,
  );
  out.push(`Guard time: N=${a.n}, ${a.guardTimeEtu(0)} etu (T=0), ${a.guardTimeEtu(1)} etu (T=1)`);
  const ms = (sec: number | undefined) => (sec === undefined ? 'RFU' : `${+(sec * 1000).toPrecision(4)} ms`);
  if (a.protocols.includes(0))
    out.push(`T=0: WI=${a.wi}, WT ${ms(a.waitingTimeSeconds(clockHz))} at ${mhz(clockHz)}`);
  const t1 = a.t1;
  if (t1) {
    const d = (b: boolean) => (b ? '' : ' (default)');
    out.push(
      `T=1: IFSC=${t1.ifsc}${d(t1.fromAtr.ifsc)}, CWI=${t1.cwi}, BWI=${t1.bwi}${d(t1.fromAtr.cwiBwi)}, ${t1.errorDetection}${d(t1.fromAtr.errorDetection)}`,
    );
    out.push(`     CWT ${t1.cwtEtu} etu, BWT ${ms(a.blockWaitingTimeSeconds(clockHz))} at ${mhz(clockHz)}`);
  }
  const t15 = a.t15;
  if (t15) {
    out.push(`T=15: clock stop ${t15.clockStop}, classes ${t15.classes.join(' ') || 'none'}, SPU ${t15.spu}`);
  }
  out.push('');
  historical(a.historical, out);
  if (a.warnings.length) {
    out.push('');
    out.push('Warnings:');
    for (const w of a.warnings) out.push(`  ${w}`);
  }
  return out.join('\n') + '\n';
}

/** `meterpurse atr <hex> [--json]`: analyses an ATR (ISO/IEC 7816-3 §8, 7816-4 §8.1.1). */
export const atrCommand: Command = {
  path: ['atr'],
  summary: 'Analyse an ATR (ISO/IEC 7816-3 §8): convention, protocols, Fi/Di, T=1, historical bytes, TCK',
  usage: USAGE,
  options: {
    json: { type: 'boolean', help: 'print the analysis as JSON' },
    clock: {
      type: 'string',
      value: '<Hz>',
      help: 'the card clock, for the bit rates shown',
      byDefault: `${CLOCK_3_5712_MHZ} (3.5712 MHz)`,
    },
    'tolerate-wrong-tck': {
      type: 'boolean',
      help: 'analyse an ATR whose check byte TCK is wrong (with a warning)',
    },
    tolerant: {
      type: 'boolean',
      help: 'analyse what real cards send: a wrong or a missing TCK is reported as a warning',
    },
  },
  examples: [
    'atr 3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 01 00 00 00 00 6A',
    'atr 3B0200 --json',
    'atr 3BF99600008031FE455343453720474E335E --tolerant',
  ],
  async run(args: string[], io: Io): Promise<number> {
    let json = false;
    let tolerate = false;
    let tolerant = false;
    let clock = CLOCK_3_5712_MHZ;
    const hex: string[] = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (a === '--json') json = true;
      else if (a === '--tolerate-wrong-tck') tolerate = true;
      else if (a === '--tolerant') tolerant = true;
      else if (a === '--clock') {
        const v = Number(args[++i]);
        if (!Number.isFinite(v) || v <= 0)
          throw new UsageError(`--clock needs a frequency in Hz, got ${args[i]}`);
        clock = v;
      } else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}; usage: meterpurse ${USAGE}`);
      else hex.push(a);
    }
    if (hex.length === 0) throw new UsageError(`missing ATR; usage: meterpurse ${USAGE}`);
    const atr = Atr.parse(fromHex(hex.join('')), { tolerateWrongTck: tolerate, tolerant });
    if (json) io.out(JSON.stringify(atr.toJSON(), null, 2) + '\n');
    else io.out(describeAtr(atr, clock));
    return 0;
  },
};
