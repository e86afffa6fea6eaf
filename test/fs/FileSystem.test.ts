import { describe, expect, it } from 'vitest';
import { DEMO_AID, PIN_OK, sampleCard } from '../os/helpers.js';

const ascii = (hex: string) => Buffer.from(hex, 'hex').toString('latin1');

describe('SELECT (ISO/IEC 7816-4 §11.2.2)', () => {
  it('by FID returns FCP / FCI / FMD / nothing per P2', () => {
    const { tx } = sampleCard();
    expect(tx('00A4000C023F00')).toBe('9000');
    // FCP of the DF 5000: descriptor 38, FID, DF name, life cycle.
    expect(tx('00A4000402500000')).toBe(`62148201388302500084${'08'}${DEMO_AID}8A01059000`);
    expect(tx('00A4000002500000').slice(0, 4)).toBe('6F14');
    expect(tx('00A4000802500000')).toBe(`640A8408${DEMO_AID}9000`);
    // FCP of the transparent EF 5001 (300 bytes, SFI 1) selected by FID as a child.
    expect(tx('00A4000402500100')).toBe(
      '621280' + '02012C' + '82020121' + '83025001' + '880108' + '8A0105' + '9000',
    );
    // Linear-fixed EF 5002: record length 16, 3 records.
    expect(tx('00A40004025002 00'.replace(' ', ''))).toContain('82050221001003');
  });

  it('by path from the MF and from the current DF, child DF, EF, parent', () => {
    const { tx, card } = sampleCard();
    expect(tx('00A4080C0450005003')).toBe('9000');
    expect(card.channel(0)!.currentEf!.fid).toBe(0x5003);
    expect(tx('00A40300')).toBe('9000');
    expect(card.channel(0)!.currentDf.fid).toBe(0x3f00);
    expect(tx('00A40300')).toBe('6A82'); // the MF has no parent
    expect(tx('00A4010C025000')).toBe('9000');
    expect(tx('00A4090C025004')).toBe('9000');
    expect(card.channel(0)!.currentEf!.fid).toBe(0x5004);
    expect(tx('00A4020C025000')).toBe('6A82'); // 5000 is not an EF of 5000
    expect(tx('00A4010C025001')).toBe('6A82'); // 5001 is not a DF
    expect(tx('00A4000C022F02')).toBe('9000'); // an EF of the parent, found by FID
  });

  it('by DF name with partial names and next occurrence', () => {
    const { tx, card } = sampleCard();
    expect(tx(`00A4040C08${DEMO_AID}`)).toBe('9000');
    expect(card.channel(0)!.currentDf.fid).toBe(0x5000);
    expect(tx('00A4040C05A000000999')).toBe('9000'); // right-truncated
    expect(tx('00A4040E05A000000999')).toBe('6A82'); // next occurrence: there is only one
    expect(tx('00A4040C05A000000998')).toBe('6A82');
  });

  it('malformed SELECTs: wrong P1/P2, wrong lengths, not found', () => {
    const { tx, card } = sampleCard();
    tx('00A4080C045000 5001'.replace(' ', ''));
    const before = card.channel(0)!.currentEf;
    expect(tx('00A4050C023F00')).toBe('6A86');
    expect(tx('00A400F0023F00')).toBe('6A86');
    expect(tx('00A4000D023F00')).toBe('6A86'); // occurrence bits only with P1 = 04
    expect(tx('00A4000C033F0000')).toBe('6700');
    expect(tx('00A4080C035000 50'.replace(' ', ''))).toBe('6700');
    expect(tx('00A4000C021234')).toBe('6A82');
    expect(card.channel(0)!.currentEf).toBe(before);
  });
});

describe('READ / UPDATE BINARY (§11.2.3, §11.2.5)', () => {
  it('reads with SFI and offset; Le=00 reads to the end of file; a short file gives 6282', () => {
    const { tx } = sampleCard();
    tx(`00A4040C08${DEMO_AID}`);
    expect(ascii(tx('00B0810010').slice(0, -4))).toBe('meterpurse demo ');
    expect(tx('00B0000010')).toBe(tx('00B0000010')); // SFI read made 5001 current
    expect(tx('00B0012000').length).toBe((300 - 288) * 2 + 4);
    expect(tx('00B0012010')).toBe('00'.repeat(12) + '6282');
    expect(tx('00B0012C01')).toBe('6B00');
    expect(tx('00B0100001')).toBe('6B00');
    expect(tx('00B00000000100').slice(-4)).toBe('9000'); // extended Le
  });

  it('update needs PIN 81: 6982 before, 9000 after, contents changed', () => {
    const { tx } = sampleCard();
    tx(`00A4040C08${DEMO_AID}`);
    expect(tx('00D6810004CAFEBABE')).toBe('6982');
    expect(tx('0020008108' + PIN_OK)).toBe('9000');
    expect(tx('00D6810004CAFEBABE')).toBe('9000');
    expect(tx('00B0000004')).toBe('CAFEBABE9000');
    expect(tx('00D6012B02AABB')).toBe('6A84'); // past the end
    expect(tx('00D6012C01AA')).toBe('6B00');
    expect(tx('00D60000')).toBe('6700');
  });

  it('6986 without a current EF, 6981 on a record EF, 6982 for never, 6A82 for an unknown SFI', () => {
    const { tx } = sampleCard();
    expect(tx('00B0000004')).toBe('6986');
    tx(`00A4040C08${DEMO_AID}`);
    expect(tx('00B0820004')).toBe('6981');
    expect(tx('00A4020C025005')).toBe('9000');
    expect(tx('00B0000004')).toBe('6982');
    expect(tx('00B0850004')).toBe('6A82');
    expect(tx('00B0A10004')).toBe('6A86');
  });
});

describe('refused commands keep the selection', () => {
  it('an SFI command that fails leaves the current EF and record pointer alone', () => {
    const { tx, card } = sampleCard();
    tx(`00A4040C08${DEMO_AID}`);
    expect(tx('00B2021400')).toBe('02'.repeat(16) + '9000');
    const ch = card.channel(0)!;
    for (const c of [
      '00B0830001',
      '00D6810001AA',
      '00B2091400',
      '00B2011C00',
      '00E2001808' + '00'.repeat(8),
      '00B0860001',
    ]) {
      expect(tx(c).slice(-4)).not.toBe('9000');
      expect(ch.currentEf!.fid).toBe(0x5002);
      expect(ch.recordPointer).toBe(2);
    }
  });
});

describe('records (§11.3)', () => {
  it('linear fixed: read by number, first/last/next/previous, update, append until full', () => {
    const { tx } = sampleCard();
    tx(`00A4040C08${DEMO_AID}`);
    expect(tx('00B2021400')).toBe('02'.repeat(16) + '9000');
    expect(tx('00B2001200')).toBe('03'.repeat(16) + '9000'); // next after 2
    expect(tx('00B2001200')).toBe('6A83');
    expect(tx('00B2001300')).toBe('02'.repeat(16) + '9000'); // previous of 3
    expect(tx('00B2001000')).toBe('01'.repeat(16) + '9000'); // first
    expect(tx('00B2001100')).toBe('03'.repeat(16) + '9000'); // last
    expect(tx('00B2051400')).toBe('6A83');
    tx('0020008108' + PIN_OK);
    expect(tx('00DC011408' + '11'.repeat(8))).toBe('6700'); // fixed length 16
    expect(tx('00DC0114' + '10' + '11'.repeat(16))).toBe('9000');
    expect(tx('00B2011400')).toBe('11'.repeat(16) + '9000');
    expect(tx('00E2001010' + '44'.repeat(16))).toBe('9000');
    expect(tx('00B2041400')).toBe('44'.repeat(16) + '9000');
    expect(tx('00E2001010' + '55'.repeat(16))).toBe('6A84');
    expect(tx('00B2010C00')).toBe('6981'); // SFI 1 is transparent
  });

  it('READ RECORD all records from P1 up to the last (101) and from the last down to P1 (110)', () => {
    const { tx } = sampleCard();
    tx(`00A4040C08${DEMO_AID}`);
    expect(tx('00B2021500')).toBe('02'.repeat(16) + '03'.repeat(16) + '9000');
    expect(tx('00B2011600')).toBe('03'.repeat(16) + '02'.repeat(16) + '01'.repeat(16) + '9000');
    expect(tx('00B2001500')).toBe('6A86'); // P1 must name a record
    expect(tx('00B2041500')).toBe('6A83');
    expect(tx('00DC011510' + '00'.repeat(16))).toBe('6A86'); // not for UPDATE RECORD
    // Le shorter than the whole: T=1 gives Le bytes and 61xx.
    expect(tx('00B2011510')).toBe('01'.repeat(16) + '6120');
  });

  it('cyclic: append overwrites the oldest and record 1 is the newest', () => {
    const { tx } = sampleCard();
    tx(`00A4040C08${DEMO_AID}`);
    expect(tx('00B2011C00')).toBe('6982');
    tx('0020008108' + PIN_OK);
    expect(tx('00B2011C00')).toBe('C000000000000002' + '9000');
    for (let i = 3; i <= 7; i++) expect(tx(`00E2001808C00000000000000${i}`)).toBe('9000');
    // 5 slots: records 7 6 5 4 3 remain, 1 and 2 are gone.
    for (let n = 1; n <= 5; n++) expect(tx(`00B20${n}1C00`)).toBe(`C00000000000000${8 - n}9000`);
    expect(tx('00B2061C00')).toBe('6A83');
    expect(tx('00DC011C08' + '00'.repeat(8))).toBe('6982'); // update: never
  });

  it('linear variable: records keep their own lengths', () => {
    const { tx } = sampleCard();
    tx(`00A4040C08${DEMO_AID}`);
    expect(tx('00B2022400')).toBe('BBBB9000');
    expect(tx('00DC022403010203')).toBe('9000');
    expect(tx('00B2022400')).toBe('0102039000');
    expect(tx('00E2002001EE')).toBe('9000');
    expect(tx('00B2032400')).toBe('EE9000');
    expect(tx('00E20020' + '21' + 'AA'.repeat(33))).toBe('6700');
  });

  it('malformed record commands never change anything', () => {
    const { tx, card } = sampleCard();
    tx(`00A4040C08${DEMO_AID}`);
    tx('0020008108' + PIN_OK);
    const image = card.store.image();
    for (const c of [
      '00E2011808' + '77'.repeat(8),
      '00E2001908' + '77'.repeat(8),
      '00B201FC00',
      '00B2001500',
      '00B2011700',
      '00DC001408' + '11'.repeat(8),
      '00E20018',
      '00DC0114',
    ])
      expect(['6A86', '6700', '6A83']).toContain(tx(c));
    expect(Buffer.compare(image, card.store.image())).toBe(0);
  });
});
