import { describe, expect, it } from 'vitest';
import { Cla, type ClaInfo } from '../../card/iso7816/Cla.js';

type Expect = Pick<
  ClaInfo,
  'interindustry' | 'proprietary' | 'invalid' | 'rfu' | 'layout' | 'chaining' | 'secureMessaging' | 'channel'
>;

const none = { proprietary: false, invalid: false, rfu: false, chaining: false } as const;

// Hand-decoded from the bit layout of ISO/IEC 7816-4:2013 §5.4.1 (and GlobalPlatform for 8x/Cx).
const known: [number, Expect][] = [
  [0x00, { ...none, interindustry: 'first', layout: 'first', secureMessaging: 'none', channel: 0 }],
  [0x03, { ...none, interindustry: 'first', layout: 'first', secureMessaging: 'none', channel: 3 }],
  [0x04, { ...none, interindustry: 'first', layout: 'first', secureMessaging: 'proprietary', channel: 0 }],
  [
    0x08,
    { ...none, interindustry: 'first', layout: 'first', secureMessaging: 'header-not-processed', channel: 0 },
  ],
  [
    0x0c,
    { ...none, interindustry: 'first', layout: 'first', secureMessaging: 'header-authenticated', channel: 0 },
  ],
  [
    0x1e,
    {
      ...none,
      interindustry: 'first',
      layout: 'first',
      chaining: true,
      secureMessaging: 'header-authenticated',
      channel: 2,
    },
  ],
  [
    0x20,
    { ...none, rfu: true, interindustry: false, layout: undefined, secureMessaging: 'none', channel: 0 },
  ],
  [
    0x3f,
    { ...none, rfu: true, interindustry: false, layout: undefined, secureMessaging: 'none', channel: 0 },
  ],
  [0x40, { ...none, interindustry: 'further', layout: 'further', secureMessaging: 'none', channel: 4 }],
  [0x4f, { ...none, interindustry: 'further', layout: 'further', secureMessaging: 'none', channel: 19 }],
  [
    0x61,
    {
      ...none,
      interindustry: 'further',
      layout: 'further',
      secureMessaging: 'header-not-authenticated',
      channel: 5,
    },
  ],
  [
    0x50,
    {
      ...none,
      interindustry: 'further',
      layout: 'further',
      chaining: true,
      secureMessaging: 'none',
      channel: 4,
    },
  ],
  [
    0x7f,
    {
      ...none,
      interindustry: 'further',
      layout: 'further',
      chaining: true,
      secureMessaging: 'header-not-authenticated',
      channel: 19,
    },
  ],
  [
    0x80,
    {
      ...none,
      proprietary: true,
      interindustry: false,
      layout: 'first',
      secureMessaging: 'none',
      channel: 0,
    },
  ],
  [
    0x84,
    {
      ...none,
      proprietary: true,
      interindustry: false,
      layout: 'first',
      secureMessaging: 'proprietary',
      channel: 0,
    },
  ],
  [
    0xa0,
    {
      ...none,
      proprietary: true,
      interindustry: false,
      layout: undefined,
      secureMessaging: 'none',
      channel: 0,
    },
  ],
  [
    0xc1,
    {
      ...none,
      proprietary: true,
      interindustry: false,
      layout: 'further',
      secureMessaging: 'none',
      channel: 5,
    },
  ],
  [
    0xe5,
    {
      ...none,
      proprietary: true,
      interindustry: false,
      layout: 'further',
      secureMessaging: 'header-not-authenticated',
      channel: 9,
    },
  ],
  [
    0xff,
    { ...none, invalid: true, interindustry: false, layout: undefined, secureMessaging: 'none', channel: 0 },
  ],
];

describe('Cla.decode (ISO/IEC 7816-4:2013 §5.4.1)', () => {
  for (const [byte, e] of known) {
    it(`CLA ${byte.toString(16).toUpperCase().padStart(2, '0')}`, () => {
      expect(Cla.decode(byte)).toEqual({ byte, ...e });
    });
  }

  it('classifies all 256 bytes into exactly one range', () => {
    const counts = { first: 0, further: 0, rfu: 0, proprietary: 0, invalid: 0 };
    for (let b = 0; b < 256; b++) {
      const c = Cla.decode(b);
      const flags = [
        c.interindustry === 'first',
        c.interindustry === 'further',
        c.rfu,
        c.proprietary,
        c.invalid,
      ];
      expect(flags.filter(Boolean)).toHaveLength(1);
      if (c.interindustry === 'first') counts.first++;
      if (c.interindustry === 'further') counts.further++;
      if (c.rfu) counts.rfu++;
      if (c.proprietary) counts.proprietary++;
      if (c.invalid) counts.invalid++;
      expect(c.channel).toBeGreaterThanOrEqual(0);
      expect(c.channel).toBeLessThanOrEqual(19);
    }
    expect(counts).toEqual({ first: 32, further: 64, rfu: 32, proprietary: 127, invalid: 1 });
  });

  it('rejects non-bytes', () => {
    expect(() => Cla.decode(256)).toThrow(RangeError);
    expect(() => Cla.decode(-1)).toThrow(RangeError);
    expect(() => Cla.decode(0.5)).toThrow(RangeError);
  });
});

describe('Cla.encode', () => {
  it('re-encodes every byte that has a layout (interindustry and GlobalPlatform-style)', () => {
    let n = 0;
    for (let b = 0; b < 255; b++) {
      const c = Cla.decode(b);
      if (c.layout === undefined) continue;
      n++;
      expect(
        Cla.encode({
          channel: c.channel,
          sm: c.secureMessaging,
          chaining: c.chaining,
          proprietary: c.proprietary,
        }),
      ).toBe(b);
    }
    // 32 first + 64 further, and the same again with b8 set minus FF.
    expect(n).toBe(32 + 64 + 32 + 63);
  });

  it('chooses first interindustry for channels 0..3 and further for 4..19', () => {
    expect(Cla.encode({ channel: 0 })).toBe(0x00);
    expect(Cla.encode({ channel: 3, sm: 'header-authenticated' })).toBe(0x0f);
    expect(Cla.encode({ channel: 4 })).toBe(0x40);
    expect(Cla.encode({ channel: 19, chaining: true })).toBe(0x5f);
    expect(Cla.encode({ channel: 1, proprietary: true, sm: 'proprietary' })).toBe(0x85);
    // Alias: the same "SM per clause 10, header not processed/authenticated" bit on either range.
    expect(Cla.encode({ channel: 0, sm: 'header-not-authenticated' })).toBe(0x08);
    expect(Cla.encode({ channel: 5, sm: 'header-not-processed' })).toBe(0x61);
  });

  it('rejects what cannot be expressed', () => {
    expect(() => Cla.encode({ channel: 20 })).toThrow(/channel/);
    expect(() => Cla.encode({ channel: -1 })).toThrow(/channel/);
    expect(() => Cla.encode({ channel: 4, sm: 'header-authenticated' })).toThrow(/sm/);
    expect(() => Cla.encode({ channel: 7, sm: 'proprietary' })).toThrow(/sm/);
    expect(() =>
      Cla.encode({ channel: 19, sm: 'header-not-authenticated', chaining: true, proprietary: true }),
    ).toThrow(/FF/);
  });
});
