import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  buildFci,
  buildFcp,
  buildFmd,
  decodeFileDescriptorByte,
  lifeCycleName,
  parseFci,
  parseFcp,
  parseFmd,
} from '../../card/iso7816/fcp.js';
import { TlvNode } from '../../card/iso7816/tlv.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { fromHex, toHex } from '../../card/util/hex.js';

const samples = (
  JSON.parse(readFileSync(new URL('../vectors/tlv/samples.json', import.meta.url), 'utf8')) as {
    samples: { name: string; hex: string }[];
  }
).samples;
const hexOf = (name: string) => samples.find((s) => s.name.startsWith(name))!.hex;

describe('FCP / FCI / FMD templates (ISO/IEC 7816-4 §5.3.3)', () => {
  it('parses the transparent EF sample and rebuilds it byte for byte', () => {
    const p = parseFcp(fromHex(hexOf('FCP of a transparent EF')));
    expect(p.fileSize).toBe(32);
    expect(p.fileId).toBe(0x0101);
    expect(p.sfi).toBe(1);
    expect(p.lifeCycle).toBe(5);
    expect(lifeCycleName(p.lifeCycle!)).toBe('operational state (activated)');
    expect(p.descriptor).toMatchObject({
      byte: 1,
      category: 'working-ef',
      structure: 'transparent',
      shareable: false,
    });
    expect(toHex(p.securityCompact!)).toBe('030000');
    expect(toHex(buildFcp(p).encode())).toBe(hexOf('FCP of a transparent EF'));
  });

  it('parses a DF with a proprietary template', () => {
    const p = parseFcp(fromHex(hexOf('FCP of a DF')));
    expect(p.descriptor?.category).toBe('df');
    expect(p.descriptor?.structure).toBeUndefined();
    expect(p.fileId).toBe(0x3f00);
    expect(toHex(p.dfName!)).toBe('A000000151000000');
    expect(p.proprietaryTemplate!.find(0x9f65)!.uint()).toBe(0xff);
    expect(toHex(buildFcp(p).encode())).toBe(hexOf('FCP of a DF'));
  });

  it('parses a linear fixed EF with record size and count, and an empty 88 (no SFI)', () => {
    const p = parseFcp(fromHex(hexOf('FCP of a linear fixed EF')));
    expect(p.descriptor).toMatchObject({
      structure: 'linear-fixed',
      dataCoding: 0x21,
      maxRecordSize: 30,
      numberOfRecords: 4,
    });
    expect(p.sfi).toBeNull();
    expect(toHex(buildFcp(p).encode())).toBe(hexOf('FCP of a linear fixed EF'));
  });

  it('reads an EMV FCI (6F) and keeps unknown objects', () => {
    const p = parseFci(fromHex(hexOf('EMV PSE')));
    expect(new TextDecoder().decode(p.dfName!)).toBe('1PAY.SYS.DDF01');
    expect(p.proprietaryTemplate!.find(0x88)!.uint()).toBe(8);
    const withFmd = buildFci({ fileId: 0x2f00 }, [TlvNode.primitive(0x53, fromHex('0102'))]);
    expect(toHex(withFmd.encode())).toBe('6F0883022F0053020102');
    expect(parseFci(withFmd).others!.map((o) => o.tagHex)).toEqual(['53']);
  });

  it('FMD round trip', () => {
    const fmd = buildFmd([TlvNode.primitive(0x53, fromHex('AA'))]);
    expect(toHex(fmd.encode())).toBe('64035301AA');
    expect(parseFmd(fmd.encode()).map((n) => n.tagHex)).toEqual(['53']);
  });

  it('file descriptor bytes', () => {
    expect(decodeFileDescriptorByte(0x38)).toMatchObject({ category: 'df', shareable: false });
    expect(decodeFileDescriptorByte(0x78)).toMatchObject({ category: 'df', shareable: true });
    expect(decodeFileDescriptorByte(0x0e)).toMatchObject({ category: 'internal-ef', structure: 'cyclic' });
    expect(decodeFileDescriptorByte(0x11)).toMatchObject({
      category: 'proprietary-ef',
      structure: 'transparent',
    });
    expect(() => decodeFileDescriptorByte(0x80)).toThrow(RangeError);
  });

  it('rejects malformed templates with MalformedDataError at the object offset', () => {
    const wrongTag = (() => {
      try {
        parseFcp(fromHex('6F00'));
      } catch (e) {
        return e;
      }
    })();
    expect(wrongTag).toBeInstanceOf(MalformedDataError);
    const badFid = (() => {
      try {
        parseFcp(fromHex('6206820101830101'));
      } catch (e) {
        return e as MalformedDataError;
      }
    })();
    expect(badFid).toBeInstanceOf(MalformedDataError);
    expect(badFid!.offset).toBe(5);
    expect(() => parseFcp(fromHex('6203880109'))).toThrow(/SFI/);
    expect(() => parseFcp(fromHex('6203820180'))).toThrow(MalformedDataError);
  });

  it('rejects out-of-range fields when building', () => {
    expect(() => buildFcp({ sfi: 31 })).toThrow(RangeError);
    expect(() => buildFcp({ fileId: 0x10000 })).toThrow(RangeError);
    expect(() => buildFcp({ dfName: new Uint8Array(17) })).toThrow(RangeError);
    expect(() => buildFcp({ proprietaryTemplate: TlvNode.constructed(0x62, []) })).toThrow(RangeError);
  });
});
