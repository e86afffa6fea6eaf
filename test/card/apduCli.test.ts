import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import type { Io } from '../../cli/Command.js';
import { insInfo } from '../../card/iso7816/insTable.js';

function capture(): Io & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    stdout: () => out,
    stderr: () => err,
  };
}

describe('meterpurse apdu', () => {
  it('prints the analysis of a case 4S SELECT', async () => {
    const io = capture();
    expect(await main(['apdu', '00A4040007A000000004101000'], io)).toBe(0);
    const o = io.stdout();
    expect(o).toContain('case     4S');
    expect(o).toContain('A4: SELECT');
    expect(o).toContain('first interindustry, channel 0, no SM');
    expect(o).toContain('Nc       7: A0 00 00 00 04 10 10');
    expect(o).toContain('Ne       256 (Le = 00)');
  });

  it('--json gives the documented object (case 4E, GlobalPlatform CLA, hex split over args)', async () => {
    const io = capture();
    expect(await main(['apdu', '--json', '84E2000000000511223344', '550001'], io)).toBe(0);
    expect(JSON.parse(io.stdout())).toEqual({
      kind: 'command',
      hex: '84E200000000051122334455' + '0001',
      case: '4E',
      extended: true,
      cla: {
        byte: '84',
        interindustry: false,
        proprietary: true,
        invalid: false,
        rfu: false,
        layout: 'first',
        chaining: false,
        secureMessaging: 'proprietary',
        channel: 0,
      },
      ins: { byte: 'E2', name: 'APPEND RECORD', valid: true, berTlvData: false },
      p1: '00',
      p2: '00',
      nc: 5,
      data: '1122334455',
      ne: 1,
      le: '0001',
    });
  });

  it('--json for case 1 and 2E', async () => {
    let io = capture();
    await main(['apdu', '--json', '00700080'], io);
    expect(JSON.parse(io.stdout())).toMatchObject({ case: '1', ne: null, le: null, nc: 0, data: '' });
    io = capture();
    await main(['apdu', '--json', '00B00000000000'], io);
    expect(JSON.parse(io.stdout())).toMatchObject({
      case: '2E',
      ne: 65536,
      le: '0000',
      ins: { name: 'READ BINARY' },
    });
  });

  it('--response describes the SW and shows response data as TLV', async () => {
    const io = capture();
    const hex = '6F1A840E315041592E5359532E4444463031A5088801085F2D02656E' + '9000';
    expect(await main(['apdu', '--response', '--json', hex], io)).toBe(0);
    const j = JSON.parse(io.stdout()) as Record<string, unknown>;
    expect(j).toMatchObject({ kind: 'response', sw: '9000', category: 'ok', nr: 28 });
    expect(j.tlv).toEqual([
      {
        tag: '6F',
        length: 26,
        children: [
          { tag: '84', length: 14, value: '315041592E5359532E4444463031' },
          {
            tag: 'A5',
            length: 8,
            children: [
              { tag: '88', length: 1, value: '08' },
              { tag: '5F2D', length: 2, value: '656E' },
            ],
          },
        ],
      },
    ]);
    const io2 = capture();
    await main(['apdu', '--response', '63C2'], io2);
    expect(io2.stdout()).toContain('63C2: warning: counter 2');
    expect(io2.stdout()).toContain('[warning]');
  });

  it('malformed input is a one-line error with exit status 2', async () => {
    const io = capture();
    expect(await main(['apdu', '00A4040002AA'], io)).toBe(2);
    expect(io.stderr()).toBe(
      'meterpurse apdu: malformed apdu at offset 6: short Lc=2 announces 2 data bytes but only 1 follow\n',
    );
    expect(io.stdout()).toBe('');
    const io2 = capture();
    expect(await main(['apdu'], io2)).toBe(2);
    expect(io2.stderr()).toMatch(/missing APDU hex/);
    const io3 = capture();
    expect(await main(['apdu', '--bogus', '00A40000'], io3)).toBe(2);
    const io4 = capture();
    expect(await main(['apdu', '--response', '90'], io4)).toBe(2);
  });
});

describe('INS table (ISO/IEC 7816-4 §5.4.2)', () => {
  it('names the interindustry instructions and flags invalid and odd codes', () => {
    const names: [number, string][] = [
      [0xa4, 'SELECT'],
      [0xb0, 'READ BINARY'],
      [0xd6, 'UPDATE BINARY'],
      [0xb2, 'READ RECORD(S)'],
      [0xdc, 'UPDATE RECORD'],
      [0xe2, 'APPEND RECORD'],
      [0x20, 'VERIFY'],
      [0x24, 'CHANGE REFERENCE DATA'],
      [0x2c, 'RESET RETRY COUNTER'],
      [0x84, 'GET CHALLENGE'],
      [0x88, 'INTERNAL AUTHENTICATE'],
      [0x82, 'EXTERNAL AUTHENTICATE'],
      [0xc0, 'GET RESPONSE'],
      [0x70, 'MANAGE CHANNEL'],
      [0xca, 'GET DATA'],
      [0xda, 'PUT DATA'],
    ];
    for (const [ins, name] of names) expect(insInfo(ins).name).toBe(name);
    expect(insInfo(0xb1)).toEqual({ name: 'READ BINARY', valid: true, berTlvData: true });
    expect(insInfo(0x60)).toEqual({ name: undefined, valid: false, berTlvData: false });
    expect(insInfo(0x9a).valid).toBe(false);
    expect(insInfo(0x50).name).toBeUndefined();
    expect(() => insInfo(256)).toThrow(RangeError);
  });
});
