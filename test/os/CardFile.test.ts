import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCardFile, openCardFile } from '../../card/CardFile.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { CardPowerLostError } from '../../card/os/CardOs.js';
import { buildCard, getProfile, listProfiles } from '../../card/os/CardProfiles.js';
import { encodeStoreFile } from '../../card/store/StoreFile.js';
import { DEMO_AID, PIN_BAD, PIN_OK, send } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mp-cardfile-'));

describe('card files', () => {
  it('profiles are a registry with T=1 and T=0 sample cards', () => {
    expect(listProfiles().map((p) => p.id)).toEqual(expect.arrayContaining(['iso-fs', 'iso-fs-t0']));
    expect(() => getProfile('nope')).toThrow(/unknown card profile/);
    expect(buildCard('iso-fs-t0').protocol).toBe('T=0');
  });

  it('a card survives a restart: contents and PIN counter come back from the file', () => {
    const path = join(dir, 'demo.card');
    const card = buildCard('iso-fs');
    createCardFile(path, card);
    const a = openCardFile(path);
    a.card.powerUp();
    send(a.card, `00A4040C08${DEMO_AID}`);
    send(a.card, '0020008108' + PIN_OK);
    expect(send(a.card, '00D6810003ABCDEF')).toBe('9000');
    expect(send(a.card, '0020008108' + PIN_BAD)).toBe('63C2');
    a.save();
    const b = openCardFile(path);
    expect(b.card.powered).toBe(false);
    b.card.powerUp();
    send(b.card, `00A4040C08${DEMO_AID}`);
    expect(send(b.card, '00B0810003')).toBe('ABCDEF9000');
    expect(send(b.card, '0020008100')).toBe('63C2');
  });

  it('a card saved right after a torn command recovers at power-up', () => {
    const path = join(dir, 'torn.card');
    createCardFile(path, buildCard('iso-fs'));
    const a = openCardFile(path);
    a.card.powerUp();
    send(a.card, `00A4040C08${DEMO_AID}`);
    send(a.card, '0020008108' + PIN_OK);
    a.card.store.armTear(3); // after the commit point of the update
    expect(() => send(a.card, '00D6810003ABCDEF')).toThrow(CardPowerLostError);
    a.save();
    const b = openCardFile(path);
    b.card.powerUp();
    send(b.card, `00A4040C08${DEMO_AID}`);
    expect(send(b.card, '00B0810003')).toBe('ABCDEF9000');
  });

  it('damaged files and bad headers are MalformedDataError (kind card-file)', () => {
    const path = join(dir, 'bad.card');
    createCardFile(path, buildCard('iso-fs'));
    const raw = new Uint8Array(readFileSync(path));
    writeFileSync(path, raw.subarray(0, raw.length - 10));
    expect(() => openCardFile(path)).toThrow(MalformedDataError);
    const flipped = Uint8Array.from(raw);
    flipped[200]! ^= 0x40;
    writeFileSync(path, flipped);
    expect(() => openCardFile(path)).toThrow(/checksum/);
    writeFileSync(
      path,
      encodeStoreFile({ format: 'meterpurse-card', profile: 'nope', config: {} }, new Uint8Array(4)),
    );
    expect(() => openCardFile(path)).toThrow(/unknown card profile/);
    writeFileSync(path, encodeStoreFile({ hello: 1 }, new Uint8Array(4)));
    expect(() => openCardFile(path)).toThrow(MalformedDataError);
    // The right profile but an image of the wrong size.
    writeFileSync(
      path,
      encodeStoreFile(
        { format: 'meterpurse-card', profile: 'iso-fs', config: getProfile('iso-fs').defaultConfig() },
        new Uint8Array(4),
      ),
    );
    try {
      openCardFile(path);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(MalformedDataError);
      expect((e as MalformedDataError).kind).toBe('card-file');
    }
    expect(() => openCardFile(join(dir, 'missing.card'))).toThrow(/ENOENT/);
  });

  it('cards from a card file do not share state', () => {
    const path = join(dir, 'twice.card');
    createCardFile(path, buildCard('iso-fs'));
    const a = openCardFile(path).card;
    const b = openCardFile(path).card;
    a.powerUp();
    b.powerUp();
    send(a, '0020008108' + PIN_BAD);
    expect(send(b, '0020008100')).toBe('63C3');
  });
});
