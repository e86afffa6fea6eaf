/**
 * The honest service flow with RSA-2048 (PKCS#1 v1.5) keys everywhere — the card's own pair drawn
 * from its SeededRng by node-forge, the centre's and terminal's from node:crypto — and a clone of
 * that card (its whole EEPROM image copied) used at a second terminal: both uploads carry the same
 * usage/management information h (Fig. 9), which is what the centre matches. Few RSA key pairs:
 * one centre, two terminal pairs, two cards (one signing with node-forge).
 */
import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../card/crypto/rng.js';
import { usageManagementKey } from '../../card/pki/index.js';
import { ForgeSignatureProvider } from '../../card/crypto/ForgeSignatureProvider.js';
import {
  certifySettlementCard,
  rechargeSettlementCard,
} from '../../terminal/settlement/SettlementTerminal.js';
import {
  makeSettlementCard,
  rebuildSettlementCard,
  type SettlementCardConfig,
} from '../../card/applets/settle/makeSettlementCard.js';
import { SETTLE_OBJ_PUBLIC_KEY, SETTLE_OBJ_STATUS } from '../../card/applets/settle/constants.js';
import { SettleState } from '../../card/applets/settle/SettlementApplet.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import { A, Centre, ascii, issueCard, makeTerminal, newClock, provider, tx } from './fixtureSettle.js';

const ALG = 'rsa-pkcs1v15-sha256' as const;

describe('settlement with RSA-2048', () => {
  const centre = new Centre(ascii('CENTRE-RSA'), ALG);
  const termKeys = provider.generateKeyPair(ALG);

  it('a card signing with node-forge is served by a terminal verifying with node:crypto', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-RF', clock, ALG, termKeys);
    const idu = ascii('CARD-RSA-F');
    const card = makeSettlementCard({
      idu,
      anchor: centre.anchor.encode(),
      algorithm: ALG,
      rng: new SeededRng('forge card'),
      provider: new ForgeSignatureProvider(),
    });
    const reader = new VirtualReader('forge slot', card.os);
    const ch = await reader.connect();
    await ch.transmit(A.selectSettle());
    const spki = (await ch.transmit(A.readObject(SETTLE_OBJ_PUBLIC_KEY))).data;
    await certifySettlementCard(ch, centre.certify('card', idu, spki, ALG));
    await rechargeSettlementCard(ch, centre.value(idu, 300, 1));
    const out = await t.terminal.serve(ch, 299);
    expect([out.valueBefore, out.valueAfter]).toEqual([300, 1]);
    expect(out.serviceRecord.charge).toBe(299);
  }, 60_000);

  it('serves at two terminals; a cloned card shows the same h to both (clone evidence)', async () => {
    const clock = newClock();
    const a = makeTerminal(centre, 'TERM-RA', clock, ALG, termKeys);
    const b = makeTerminal(centre, 'TERM-RB', clock, ALG);
    const c = await issueCard(centre, 'CARD-RSA-1', ALG, 10_000);
    expect(c.certificate.subjectPublicKey.length).toBeGreaterThan(256); // an RSA-2048 SPKI

    const out = await a.terminal.serve(await c.channel(), 1234);
    expect([out.valueBefore, out.valueAfter]).toEqual([10_000, 8766]);
    expect(out.serviceRecord.signature.length).toBe(256);

    // Clone: the whole EEPROM image copied into a second chip (a stolen-terminal or lab attack).
    const image = c.card.os.store.image();
    const cfg: SettlementCardConfig = {
      idu: Buffer.from(c.idu).toString('hex'),
      anchor: Buffer.from(centre.anchor.encode()).toString('hex'),
      algorithm: ALG,
    };
    const clone = rebuildSettlementCard(cfg, image, new SeededRng('clone'));
    const cloneReader = new VirtualReader('clone slot', clone.os);

    clock.advance(60_000);
    const o1 = await b.terminal.serve(await c.channel(), 100);
    const o2 = await b.terminal.serve(await cloneReader.connect(), 200);
    expect([o1.valueAfter, o2.valueAfter]).toEqual([8666, 8566]);
    const [r1, r2] = b.terminal.upload().upload.records;
    // Both continue from the same previous usage (terminal A's R, X, V'): the same h.
    expect(Buffer.from(usageManagementKey(r1!))).toEqual(Buffer.from(usageManagementKey(r2!)));
    clone.os.powerUp();
    tx(clone, A.selectSettle());
    expect(SettleState.decode(tx(clone, A.readObject(SETTLE_OBJ_STATUS)).data).value).toBe(8566);
  }, 60_000);
});
