import { beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../card/util/hex.js';
import { Certificate, PasswordTicket, PasswordSetting, UsageInfo } from '../../card/pki/index.js';
import { samples, world, type World } from './fixtures.js';

let w: World;
let s: ReturnType<typeof samples>;
beforeAll(() => {
  w = world();
  s = samples(w);
});

describe('round trips', () => {
  it('every structure: encode(decode(der)) is byte-exact and decode(encode(x)) keeps the fields', () => {
    for (const [name, { der, decode }] of Object.entries(s)) {
      const x = decode(der);
      expect(toHex(x.encode()), name).toBe(toHex(der));
    }
  });

  it('certificate fields survive', () => {
    const c = Certificate.decode(w.terminalCert.encode());
    expect(c.subjectKind).toBe('terminal');
    expect(c.serial).toBe(2);
    expect(toHex(c.subjectPublicKey)).toBe(toHex(w.terminal.keys.publicKey));
    expect(c.subjectKeyAlgorithm).toBe('rsa-pkcs1v15-sha256');
    expect(c.notAfter - c.notBefore).toBe(w.terminalCert.notAfter - w.terminalCert.notBefore);
    expect(toHex(c.tbs())).toBe(toHex(w.terminalCert.tbs()));
  });

  it('usage info embeds the terminal certificate unchanged', () => {
    const u = UsageInfo.decode(s['usage-info']!.der);
    expect(toHex(u.terminalCertificate.encode())).toBe(toHex(w.terminalCert.encode()));
    expect(u.updateCounter).toBe(7);
  });

  it('each TBS starts with its own APPLICATION tag (domain separation of the signed bytes)', () => {
    const firstTbsByte = (der: Uint8Array) => {
      // outer SEQUENCE header: 30 + length octets
      const l = der[1]!;
      const skip = l < 0x80 ? 2 : 2 + (l & 0x7f);
      return der[skip]!;
    };
    const tags = Object.entries(s)
      .filter(([n]) => n !== 'usage-info')
      .map(([, v]) => firstTbsByte(v.der));
    expect(new Set(tags).size).toBe(tags.length);
    for (const t of tags) expect(t & 0xe0).toBe(0x60); // APPLICATION, constructed
  });

  it('password ticket carries the digest of its setting and not the setting number', () => {
    const ps = PasswordSetting.decode(s['password-setting']!.der);
    const t = PasswordTicket.forSetting(ps, w.centre.signer);
    expect(toHex(t.settingDigest)).toBe(toHex(ps.digest()));
    expect(toHex(t.encode())).not.toContain(toHex(ps.settingNumber));
    expect(toHex(PasswordTicket.decode(t.encode()).encode())).toBe(toHex(t.encode()));
  });
});
