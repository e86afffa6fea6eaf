/**
 * A malicious card (or a man in the middle) in front of the SettlementTerminal: one answer of an
 * honest card rewritten at a time. Each is refused with its own reason, recorded, and the honest
 * card behind keeps its value.
 */
import { describe, expect, it } from 'vitest';
import type { CardChannel } from '../../reader/CardChannel.js';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { Certificate, ServiceRecord, UsageInfo } from '../../card/pki/index.js';
import {
  INS_SETTLE_PRESENT_TERMINAL,
  INS_SETTLE_READ_OBJECT,
  INS_SETTLE_SIGN_VALUE,
  INS_SETTLE_UPDATE_VALUE,
  SETTLE_OBJ_STATUS,
  SETTLE_TAG_USAGE_INFO,
} from '../../card/applets/settle/constants.js';
import { SettleState } from '../../card/applets/settle/SettlementApplet.js';
import { findTlv } from '../../card/iso7816/tlv.js';
import { SettlementError } from '../../terminal/settlement/SettlementError.js';
import { A, Centre, ascii, issueCard, makeTerminal, newClock, provider, tx } from './fixtureSettle.js';

const ALG = 'ecdsa-p256-sha256' as const;

type Rewrite = (c: CommandApdu, r: ResponseApdu) => ResponseApdu;

class TamperChannel implements CardChannel {
  constructor(
    readonly inner: CardChannel,
    readonly rewrite: Rewrite,
  ) {}
  get readerName(): string {
    return this.inner.readerName;
  }
  get atr(): Uint8Array {
    return this.inner.atr;
  }
  get protocol(): 'T=0' | 'T=1' {
    return this.inner.protocol;
  }
  async transmit(c: CommandApdu): Promise<ResponseApdu> {
    return this.rewrite(c, await this.inner.transmit(c));
  }
  reset(): Promise<Uint8Array> {
    return this.inner.reset();
  }
  disconnect(): Promise<void> {
    return this.inner.disconnect();
  }
}

const resp = (data: Uint8Array, sw = 0x9000): ResponseApdu =>
  ResponseApdu.decode(Uint8Array.from([...data, sw >> 8, sw & 0xff]));

function berTlv(tag: number, v: Uint8Array): Uint8Array {
  return Uint8Array.from([tag, 0x82, v.length >> 8, v.length & 0xff, ...v]);
}

describe('settlement terminal against a tampering card', () => {
  const centre = new Centre(ascii('CENTRE-1'), ALG);
  const clock = newClock();
  const t = makeTerminal(centre, 'TERM-M', clock, ALG);
  const rogue = new Centre(ascii('CENTRE-1'), ALG); // claims the centre's id, has another key

  async function attack(rewrite: Rewrite, served = false, expectValue?: number): Promise<string> {
    const c = await issueCard(centre, `CARD-${Math.random().toString(36).slice(2, 8)}`, ALG, 1000);
    if (served) await t.terminal.serve(await c.channel(), 100);
    const before = t.terminal.refusals.length;
    const e = await t.terminal.serve(new TamperChannel(await c.channel(), rewrite), 10).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(SettlementError);
    expect(t.terminal.refusals).toHaveLength(before + 1);
    c.card.os.powerUp();
    tx(c.card, A.selectSettle());
    expect(SettleState.decode(tx(c.card, A.readObject(SETTLE_OBJ_STATUS)).data).value).toBe(
      expectValue ?? (served ? 900 : 1000),
    );
    return (e as SettlementError).reason;
  }

  const onCert =
    (make: (honest: Certificate) => Certificate): Rewrite =>
    (c, r) =>
      c.ins === INS_SETTLE_READ_OBJECT && c.p1 === 1 ? resp(make(Certificate.decode(r.data)).encode()) : r;

  it('a forged card certificate (signed by a rogue key under the centre’s id)', async () => {
    const reason = await attack(onCert((h) => rogue.certify('card', h.subjectId, h.subjectPublicKey, ALG)));
    expect(reason).toBe('forged-certificate');
  });

  it('a terminal certificate used as the card certificate (wrong kind)', async () => {
    const reason = await attack(
      onCert((h) => centre.certify('terminal', h.subjectId, h.subjectPublicKey, ALG)),
    );
    expect(reason).toBe('wrong-kind');
  });

  it('a card certificate of another IDU (wrong subject)', async () => {
    const reason = await attack(
      onCert((h) => centre.certify('card', ascii('SOMEONE'), h.subjectPublicKey, ALG)),
    );
    expect(reason).toBe('wrong-subject');
  });

  it('a card signature over different data (V raised in the SIGN VALUE answer)', async () => {
    const reason = await attack((c, r) => {
      if (c.ins !== INS_SETTLE_SIGN_VALUE) return r;
      const d = r.data;
      d[19] = (d[19]! + 1) & 0xff; // V + 1, SU unchanged
      return resp(d);
    });
    expect(reason).toBe('bad-card-signature');
  });

  it('a previous usage whose S is over another value (Fig. 9)', async () => {
    const reason = await attack((c, r) => {
      if (c.ins !== INS_SETTLE_PRESENT_TERMINAL) return r;
      const u = UsageInfo.decode(findTlv(r.data, SETTLE_TAG_USAGE_INFO)!);
      const forged = new UsageInfo({ ...u, value: u.value + 500 });
      return resp(berTlv(SETTLE_TAG_USAGE_INFO, forged.encode()));
    }, true);
    expect(reason).toBe('bad-usage-signature');
  });

  it('a card that answers UPDATE with another card’s service record', async () => {
    const other = provider.signer(ALG, provider.generateKeyPair(ALG).privateKey);
    const reason = await attack(
      (c, r) => {
        if (c.ins !== INS_SETTLE_UPDATE_VALUE || r.sw !== 0x9000) return r;
        const rec = ServiceRecord.decode(r.data);
        return resp(ServiceRecord.sign({ ...rec, service: '' }, other).encode());
      },
      false,
      990,
    );
    // The card did commit (only its answer was replaced); the terminal keeps no record it cannot prove.
    expect(reason).toBe('bad-service-record');
    expect(t.terminal.pendingRecords.some((r) => r.valueAfter === 990)).toBe(false);
  });
});
