/**
 * docs/purse-spec.md §3.2: SELECT on the subscriber card, by AID and of files. The card's file
 * system is the MF alone; a path from the MF leaves out 3F00 (ISO/IEC 7816-4 §7.1.1, Table 39).
 */
import { describe, expect, it } from 'vitest';
import { buildCard, getProfile } from '../../card/os/CardProfiles.js';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import type { Iso7816Os } from '../../card/os/Iso7816Os.js';
// Registers the subscriber/SAM/SVM profiles with the card runtime.
import '../../card/applets/profiles.js';

const AID = 'F04D505552534501';
const READ_PURSE_1 = '805C000100';

function subscriber(): { card: Iso7816Os; tx: (hex: string) => string } {
  const card = buildCard('subscriber', getProfile('subscriber').defaultConfig()) as Iso7816Os;
  card.powerUp();
  return { card, tx: (hex) => toHex(card.transmit(CommandApdu.decode(fromHex(hex)).encode())) };
}

describe('subscriber card SELECT (purse-spec §3.2)', () => {
  it('by AID: FCI for P2 = 00, 04, 08; nothing for 0C; RFU P2 6A86; next occurrence 6A82', () => {
    const { tx } = subscriber();
    const fci = tx(`00A4040008${AID}00`);
    expect(fci).toMatch(new RegExp(`^6F2F8408${AID}A523.*9000$`));
    expect(tx(`00A4040408${AID}00`)).toBe(fci);
    expect(tx(`00A4040808${AID}00`)).toBe(fci);
    expect(tx(`00A4040C08${AID}`)).toBe('9000');
    expect(tx(`00A4041008${AID}`)).toBe('6A86');
    expect(tx(`00A4040E08${AID}`)).toBe('6A82');
    expect(tx('00A4040C08F04D505552534502')).toBe('6A82');
  });

  it('the MF by FID (or no data): 9000, and the application stays selected', () => {
    const { tx } = subscriber();
    tx(`00A4040C08${AID}`);
    expect(tx('00A4000C023F00')).toBe('9000');
    expect(tx('00A4000C')).toBe('9000');
    expect(tx('00A40000023F0000')).toBe('6F0A82013883023F008A01059000');
    expect(tx(READ_PURSE_1)).toMatch(/^[0-9A-F]{34}9000$/);
  });

  it('a path from the MF leaves out 3F00: 00 A4 08 0C 02 3F00 is 6A82, as is any path on this card', () => {
    const { tx, card } = subscriber();
    expect(tx('00A4080C023F00')).toBe('6A82');
    expect(tx('00A4080C043F000001')).toBe('6A82');
    expect(tx('00A4090C023F00')).toBe('6A82');
    expect(tx('00A4080C020001')).toBe('6A82');
    expect(tx('00A4080C00')).toBe('6700');
    expect(tx('00A4080C033F0000')).toBe('6700');
    // A refused SELECT leaves the channel where it was: still the MF.
    expect(card.channel(0)!.currentDf.fid).toBe(0x3f00);
  });

  it('other file selections find nothing (6A82); P1 outside Table 39 is 6A86', () => {
    const { tx } = subscriber();
    expect(tx('00A4000C020001')).toBe('6A82');
    expect(tx('00A4010C025000')).toBe('6A82');
    expect(tx('00A4020C020001')).toBe('6A82');
    expect(tx('00A4030C')).toBe('6A82');
    for (const p1 of ['05', '06', '07', '0A', '10', '80', 'FF'])
      expect(tx(`00A4${p1}0C023F00`), `P1=${p1}`).toBe('6A86');
  });
});

describe('SELECT by path on a card with DFs (iso-fs): 3F00 is never part of a path', () => {
  it('path 5000 5003 from the MF selects; with a leading 3F00 it is 6A82', () => {
    const card = buildCard('iso-fs', getProfile('iso-fs').defaultConfig()) as Iso7816Os;
    card.powerUp();
    const tx = (hex: string) => toHex(card.transmit(CommandApdu.decode(fromHex(hex)).encode()));
    expect(tx('00A4080C0450005003')).toBe('9000');
    expect(tx('00A4080C063F0050005003')).toBe('6A82');
    expect(tx('00A4080C023F00')).toBe('6A82');
    tx('00A4000C023F00');
    expect(tx('00A4090C025000')).toBe('9000'); // from the current DF (the MF): its child 5000
    tx('00A4000C023F00');
    expect(tx('00A4090C043F005000')).toBe('6A82');
  });
});
