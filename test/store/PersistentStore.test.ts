import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CardPowerLostError } from '../../card/os/CardOs.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { PersistentStore } from '../../card/store/PersistentStore.js';
import { StoreCapacityError, StoreStateError } from '../../card/store/errors.js';
import { crc32 } from '../../card/store/crc32.js';
import { decodeStoreFile, encodeStoreFile } from '../../card/store/StoreFile.js';
import { writeFileAtomic } from '../../cli/cardfile/writeFileAtomic.js';
import { equalBytes, toHex } from '../../card/util/hex.js';

const data = (s: PersistentStore) => s.read(0, s.dataSize);

/** A transaction of several writes, two of them overlapping, across distant offsets. */
function bigTransaction(s: PersistentStore): void {
  s.begin();
  s.write(0, Uint8Array.of(1, 2, 3, 4));
  s.write(100, new Uint8Array(40).fill(0x55));
  s.writeU16(2, 0xbeef); // overlaps the first write: order matters
  s.writeU32(200, 0xdeadbeef);
  s.writeByte(255, 0x7f);
  s.commit();
}

describe('PersistentStore transactions', () => {
  it('commit applies, abort drops, reads see pending writes', () => {
    const s = new PersistentStore({ dataSize: 64, journalSize: 128 });
    s.begin();
    s.write(10, Uint8Array.of(9, 8, 7));
    expect(toHex(s.read(9, 5))).toBe('0009080700');
    expect(s.readByte(11)).toBe(8);
    s.abort();
    expect(toHex(s.read(9, 5))).toBe('0000000000');
    s.atomic(() => s.writeU16(10, 0x1234));
    expect(s.readU16(10)).toBe(0x1234);
  });

  it('write outside a transaction, nested begin and over-full journal are typed errors', () => {
    const s = new PersistentStore({ dataSize: 64, journalSize: 20 });
    expect(() => s.write(0, Uint8Array.of(1))).toThrow(StoreStateError);
    s.begin();
    expect(() => s.begin()).toThrow(StoreStateError);
    expect(() => s.write(0, new Uint8Array(20))).toThrow(StoreCapacityError);
    expect(() => s.write(60, new Uint8Array(5))).toThrow(RangeError);
    s.abort();
  });

  it('atomic() aborts on an exception and joins an open transaction', () => {
    const s = new PersistentStore({ dataSize: 16, journalSize: 64 });
    expect(() =>
      s.atomic(() => {
        s.writeByte(0, 1);
        throw new Error('applet refused');
      }),
    ).toThrow('applet refused');
    expect(s.readByte(0)).toBe(0);
    s.begin();
    s.atomic(() => s.writeByte(1, 5));
    expect(s.inTransaction).toBe(true);
    s.commit();
    expect(s.readByte(1)).toBe(5);
  });

  it('allocate is deterministic and bounded', () => {
    const s = new PersistentStore({ dataSize: 100 });
    expect(s.allocate('a', 10).offset).toBe(0);
    expect(s.allocate('b', 20).offset).toBe(10);
    expect(s.allocate('a', 10).offset).toBe(0);
    expect(() => s.allocate('a', 11)).toThrow(RangeError);
    expect(() => s.allocate('c', 71)).toThrow(StoreCapacityError);
    expect(s.free).toBe(70);
  });
});

describe('anti-tearing', () => {
  it('counts 2n+2 low-level writes for n writes', () => {
    const s = new PersistentStore({ dataSize: 256, journalSize: 512 });
    bigTransaction(s);
    expect(s.writeCount).toBe(2 * 5 + 2);
  });

  it('a tear after every low-level write k leaves the transaction all or nothing', () => {
    const ref = new PersistentStore({ dataSize: 256, journalSize: 512 });
    ref.atomic(() => ref.write(0, new Uint8Array(256).fill(0xee)));
    const before = data(ref);
    bigTransaction(ref);
    const after = data(ref);
    const writes = 12;
    let applied = 0;
    let absent = 0;
    for (let k = 1; k <= writes + 1; k++) {
      const s = new PersistentStore({ dataSize: 256, journalSize: 512 });
      s.atomic(() => s.write(0, new Uint8Array(256).fill(0xee)));
      s.armTear(k);
      let torn = false;
      try {
        bigTransaction(s);
      } catch (e) {
        expect(e).toBeInstanceOf(CardPowerLostError);
        torn = true;
      }
      expect(torn).toBe(k <= writes);
      s.disarmTear();
      if (torn) expect(() => s.begin()).toThrow(StoreStateError);
      s.recover();
      const now = data(s);
      if (equalBytes(now, after)) applied++;
      else if (equalBytes(now, before)) absent++;
      else throw new Error(`tear at ${k}: neither before nor after: ${toHex(now)}`);
      // writes 1..5 are journal entries and 6 is the commit point: a tear up to 5 loses the transaction
      expect(equalBytes(now, k <= 5 ? before : after)).toBe(true);
    }
    expect(applied).toBe(writes + 1 - 5);
    expect(absent).toBe(5);
  });

  it('a second tear during recovery is recovered by the next power-up', () => {
    const ref = new PersistentStore({ dataSize: 256, journalSize: 512 });
    bigTransaction(ref);
    const after = data(ref);
    for (let k = 7; k <= 11; k++) {
      for (let r = 1; r <= 6; r++) {
        const s = new PersistentStore({ dataSize: 256, journalSize: 512 });
        s.armTear(k);
        expect(() => bigTransaction(s)).toThrow(CardPowerLostError);
        s.armTear(r);
        try {
          s.recover();
        } catch (e) {
          expect(e).toBeInstanceOf(CardPowerLostError);
        }
        s.disarmTear();
        s.recover();
        expect(toHex(data(s))).toBe(toHex(after));
      }
    }
  });

  it('an image saved mid-commit (torn) recovers after load', () => {
    const s = new PersistentStore({ dataSize: 256, journalSize: 512 });
    s.armTear(8);
    expect(() => bigTransaction(s)).toThrow(CardPowerLostError);
    const loaded = new PersistentStore({ dataSize: 256, journalSize: 512, image: s.image() });
    loaded.recover();
    const ref = new PersistentStore({ dataSize: 256, journalSize: 512 });
    bigTransaction(ref);
    expect(toHex(data(loaded))).toBe(toHex(data(ref)));
  });
});

describe('card file container', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-store-'));

  it('CRC-32 check value', () => {
    expect(crc32(new TextEncoder().encode('123456789')).toString(16)).toBe('cbf43926');
  });

  it('round-trips header and image through an atomic write, leaving no temp file', () => {
    const path = join(dir, 'a.card');
    const image = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    writeFileAtomic(path, encodeStoreFile({ profile: 'x', n: 1 }, image));
    writeFileAtomic(path, encodeStoreFile({ profile: 'y', n: 2 }, image, 1));
    const back = decodeStoreFile(new Uint8Array(readFileSync(path)));
    expect(back.header).toEqual({ profile: 'y', n: 2 });
    expect(back.version).toBe(1);
    expect(toHex(back.image)).toBe(toHex(image));
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('every truncation and every single-byte corruption is a MalformedDataError', () => {
    const file = encodeStoreFile({ p: 'q' }, Uint8Array.of(1, 2, 3, 4, 5));
    for (let n = 0; n < file.length; n++) {
      expect(() => decodeStoreFile(file.subarray(0, n))).toThrow(MalformedDataError);
    }
    for (let i = 0; i < file.length; i++) {
      const bad = Uint8Array.from(file);
      bad[i]! ^= 0x01;
      expect(() => decodeStoreFile(bad), `byte ${i}`).toThrow(MalformedDataError);
    }
    const longer = new Uint8Array(file.length + 1);
    longer.set(file);
    expect(() => decodeStoreFile(longer)).toThrow(/after the checksum/);
  });

  it('a corrupt file on disk reports the offset and kind', () => {
    const path = join(dir, 'b.card');
    writeFileAtomic(path, encodeStoreFile({ p: 1 }, new Uint8Array(8)));
    const raw = new Uint8Array(readFileSync(path));
    raw[raw.length - 6]! ^= 0xff;
    writeFileSync(path, raw);
    try {
      decodeStoreFile(new Uint8Array(readFileSync(path)));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(MalformedDataError);
      expect((e as MalformedDataError).kind).toBe('card-file');
      expect((e as MalformedDataError).reason).toMatch(/checksum/);
    }
  });
});

describe('card-file decoding of random input', () => {
  it('random bytes and mutated files only ever give MalformedDataError', async () => {
    const fc = (await import('fast-check')).default;
    const valid = encodeStoreFile(
      { format: 'meterpurse-card', profile: 'iso-fs', config: {} },
      new Uint8Array(64).fill(7),
    );
    const mutated = fc
      .tuple(fc.nat(valid.length - 1), fc.nat(255), fc.nat(valid.length))
      .map(([at, v, cut]) => {
        const b = Uint8Array.from(valid);
        b[at] = v;
        return b.subarray(0, cut);
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), mutated), (bytes) => {
        try {
          decodeStoreFile(bytes);
        } catch (e) {
          if (!(e instanceof MalformedDataError)) throw e;
          expect(e.kind).toBe('card-file');
          expect(e.offset).toBeGreaterThanOrEqual(0);
          expect(e.offset).toBeLessThanOrEqual(bytes.length);
        }
      }),
      { numRuns: 20000, seed: 5 },
    );
  });
});
