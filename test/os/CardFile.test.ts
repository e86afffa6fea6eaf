import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CardFileError, createCardFile, openCardFile } from '../../cli/cardfile/index.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { CardPowerLostError } from '../../card/os/CardOs.js';
import { buildCard, getProfile, listProfiles } from '../../card/os/CardProfiles.js';
import { decodeStoreFile, encodeStoreFile } from '../../card/store/StoreFile.js';
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

  it('damaged files and bad headers are one CardFileError (a MalformedDataError of kind card-file)', () => {
    const path = join(dir, 'bad.card');
    createCardFile(path, buildCard('iso-fs'));
    const raw = new Uint8Array(readFileSync(path));
    writeFileSync(path, raw.subarray(0, raw.length - 10));
    expect(() => openCardFile(path)).toThrow(MalformedDataError);
    const flipped = Uint8Array.from(raw);
    flipped[200]! ^= 0x40;
    writeFileSync(path, flipped);
    expect(() => openCardFile(path)).toThrow(/checksum/);
    const lab = (header: Record<string, unknown>, image: Uint8Array) =>
      encodeStoreFile({ format: 'meterpurse-card', seal: 'none', ...header }, image);
    writeFileSync(path, lab({ profile: 'nope', config: {} }, new Uint8Array(4)));
    expect(() => openCardFile(path, { unsealed: true })).toThrow(/unknown card profile/);
    writeFileSync(path, encodeStoreFile({ hello: 1 }, new Uint8Array(4)));
    expect(() => openCardFile(path)).toThrow(MalformedDataError);
    writeFileSync(path, encodeStoreFile({ format: 'meterpurse-card', seal: 'rot13' }, new Uint8Array(4)));
    expect(() => openCardFile(path)).toThrow(/unknown seal "rot13"/);
    // The right profile but an image of the wrong size (lab mode: only a CRC guards it).
    writeFileSync(
      path,
      lab({ profile: 'iso-fs', config: getProfile('iso-fs').defaultConfig() }, new Uint8Array(4)),
    );
    for (const unsealed of [false, true]) {
      try {
        openCardFile(path, { unsealed });
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(CardFileError);
        expect((e as CardFileError).kind).toBe('card-file');
        expect((e as CardFileError).problem).toBe(unsealed ? 'damaged' : 'unsealed');
      }
    }
    expect(() => openCardFile(join(dir, 'missing.card'))).toThrow(/ENOENT/);
  });

  it('a card file is sealed by default and says so; a lab file only on request', () => {
    const sealedPath = join(dir, 'sealed.card');
    const labPath = join(dir, 'lab.card');
    const made = createCardFile(sealedPath, buildCard('iso-fs'));
    expect(made).toMatchObject({
      sealed: true,
      generation: 0,
      cardId: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    expect(decodeStoreFile(new Uint8Array(readFileSync(sealedPath))).header).toMatchObject({
      format: 'meterpurse-card',
      seal: 'aes-256-gcm',
      cardId: made.cardId,
      generation: 0,
    });
    const opened = openCardFile(sealedPath);
    expect(opened).toMatchObject({ sealed: true, cardId: made.cardId, generation: 0 });
    opened.save();
    expect(openCardFile(sealedPath).generation).toBe(1);
    expect(createCardFile(labPath, buildCard('iso-fs'), { unsealed: true })).toEqual({ sealed: false });
    expect(decodeStoreFile(new Uint8Array(readFileSync(labPath))).header['lab']).toMatch(
      /^UNSEALED LAB FILE/,
    );
    expect(() => openCardFile(labPath)).toThrow(CardFileError);
    expect(openCardFile(labPath, { unsealed: true }).sealed).toBe(false);
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

  it("a file whose record layout is not this version's (or not recorded: written before) is refused, not misread", () => {
    const path = join(dir, 'layout.card');
    createCardFile(path, buildCard('subscriber'), { unsealed: true });
    const { header, image } = decodeStoreFile(new Uint8Array(readFileSync(path)));
    expect(typeof header['layout']).toBe('string');
    expect(openCardFile(path, { unsealed: true }).card).toBeDefined();
    const rewrite = (h: Record<string, unknown>) => writeFileSync(path, encodeStoreFile(h, image, 2));
    const { layout: _layout, ...withoutLayout } = header;
    rewrite(withoutLayout);
    expect(() => openCardFile(path, { unsealed: true })).toThrow(/did not record its record layout/);
    rewrite({ ...header, layout: '0123456789abcdef' });
    expect(() => openCardFile(path, { unsealed: true })).toThrow(/laid out differently/);
  });
});
