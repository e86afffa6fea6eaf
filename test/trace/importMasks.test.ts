/**
 * Imported traces are replayed like recorded ones: they carry the same mask rules
 * (GET_CHALLENGE_RULE) and, where the log has it, the ATR at connection (`@atr`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../card/util/hex.js';
import { buildCard } from '../../card/os/CardProfiles.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import {
  GET_CHALLENGE_RULE,
  Trace,
  importPcscSpy,
  importScriptorOutput,
  replayTrace,
} from '../../reader/trace/index.js';

const VECTORS = join(import.meta.dirname, '../vectors/trace');
const vector = (f: string) => readFileSync(join(VECTORS, f), 'utf8');
const ATR = '3B 85 81 31 FE 45 80 73 00 00 5B 26';
const READER = 'Gemalto PC Twin Reader 00 00';

/** The pcsc-spy vector without its SCardStatus calls (most applications never make one). */
function withoutStatus(log: string): string {
  return log.replace(/^SCardStatus\n(?:[ \t].*\n)*/gm, '');
}

/** An SCardGetStatusChange call as pcsc-spy prints it, reporting `atr` in `reader`. */
function statusChange(reader: string, atr: string): string {
  return [
    'SCardGetStatusChange',
    ' i hContext: 0x1b6e4a21',
    ' i dwTimeout: 0x00000000 (0)',
    ' i cReaders: 2',
    ` i szReader: ${reader}`,
    ' i  dwCurrentState: SCARD_STATE_UNAWARE (0x00000000)',
    ' i  dwEventState:  (0x00000000)',
    ' i  Atr length: 0x00000000 (0)',
    ' i  Atr: NULL',
    ' i szReader: Other Reader 00 00',
    ' i  dwCurrentState: SCARD_STATE_UNAWARE (0x00000000)',
    ' i  dwEventState:  (0x00000000)',
    ' i  Atr length: 0x00000000 (0)',
    ' i  Atr: NULL',
    ` o szReader: ${reader}`,
    ' o  dwCurrentState: SCARD_STATE_UNAWARE (0x00000000)',
    ' o  dwEventState: SCARD_STATE_CHANGED, SCARD_STATE_PRESENT (0x00000022)',
    ` o  Atr length: 0x0000000C (${atr.split(' ').length})`,
    ` o  Atr: ${atr}`,
    ' o szReader: Other Reader 00 00',
    ' o  dwCurrentState: SCARD_STATE_UNAWARE (0x00000000)',
    ' o  dwEventState: SCARD_STATE_CHANGED, SCARD_STATE_PRESENT (0x00000022)',
    ' o  Atr length: 0x00000004 (4)',
    ' o  Atr: 3B 02 14 50',
    ' => Command successful. (SCARD_S_SUCCESS [0x00000000])  [0.000100]',
    '',
  ].join('\n');
}

describe('imports carry the mask rules of a recording', () => {
  it('pcsc-spy: GET_CHALLENGE_RULE in the header, written as @mask-response, and used by replay', async () => {
    const t = importPcscSpy(vector('pcsc-spy-iso-fs-basic.log'));
    expect(t.header.rules).toEqual([GET_CHALLENGE_RULE]);
    const text = t.format();
    expect(text).toMatch(/^@mask-response \.\. 84 00 00 \.\./m);
    expect(Trace.parse(text).header.rules).toHaveLength(1);
    // No rules passed: the trace's own mask covers the random challenge.
    const report = await replayTrace(t, await new VirtualReader('r', buildCard('iso-fs')).connect());
    expect(report.masked).toBe(1);
    expect(report.differences.map((d) => d.kind)).toEqual(['error']); // the call that failed in the log
  });

  it('scriptor output: GET_CHALLENGE_RULE, no @atr (scriptor prints none at connection); replays clean', async () => {
    const t = importScriptorOutput(vector('scriptor-output-iso-fs-basic.txt'));
    expect(t.header.rules).toEqual([GET_CHALLENGE_RULE]);
    expect(t.header.atr).toBeUndefined();
    expect(t.format()).not.toMatch(/^@atr/m);
    const report = await replayTrace(t, await new VirtualReader('r', buildCard('iso-fs')).connect());
    expect(report.differences).toEqual([]);
    expect(report.masked).toBeGreaterThanOrEqual(1);
  });
});

describe('pcsc-spy: the ATR at connection', () => {
  const log = vector('pcsc-spy-iso-fs-basic.log');

  it('from SCardStatus (bAtr), written as @atr', () => {
    const t = importPcscSpy(log);
    expect(toHex(t.header.atr!)).toBe(ATR.replace(/ /g, ''));
    expect(t.format()).toContain(`@atr ${ATR}`);
  });

  it('without SCardStatus: none, unless SCardGetStatusChange reported the connected reader’s ATR', () => {
    const bare = withoutStatus(log);
    expect(bare).not.toMatch(/^SCardStatus$/m);
    expect(importPcscSpy(bare).header.atr).toBeUndefined();
    const withChange = bare.replace(/^SCardConnect\n/m, statusChange(READER, ATR) + 'SCardConnect\n');
    const t = importPcscSpy(withChange);
    expect(t.header.reader).toBe(READER);
    expect(toHex(t.header.atr!)).toBe(ATR.replace(/ /g, ''));
    expect(t.format()).toContain(`@atr ${ATR}`);
  });

  it('the ATR of another reader, or a failed SCardGetStatusChange, is not taken', () => {
    const bare = withoutStatus(log);
    const other = bare.replace(/^SCardConnect\n/m, statusChange('Some Other Reader', ATR) + 'SCardConnect\n');
    expect(importPcscSpy(other).header.atr).toBeUndefined();
    const failed = bare.replace(
      /^SCardConnect\n/m,
      statusChange(READER, ATR).replace(
        ' => Command successful. (SCARD_S_SUCCESS [0x00000000])',
        ' => Command timeout. (SCARD_E_TIMEOUT [0x8010000A])',
      ) + 'SCardConnect\n',
    );
    expect(importPcscSpy(failed).header.atr).toBeUndefined();
    // A malformed ATR line is ignored rather than fatal.
    const junk = bare.replace(/^SCardConnect\n/m, statusChange(READER, 'ZZ 00') + 'SCardConnect\n');
    expect(importPcscSpy(junk).header.atr).toBeUndefined();
  });
});
