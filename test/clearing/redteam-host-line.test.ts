/**
 * Red team, host side (issue 13), over the real power line: the H = 55 pending entries come from
 * the meter's own SVM, signed by READ PENDING P1 = 01 for the host's fresh challenge, and the host's
 * ClearingKeys check them under that meter's K_svm (docs/host-protocol.md "H = 55").
 */
import { describe, expect, it } from 'vitest';
import { HostKeyRing, SeededRng } from '../../card/crypto/index.js';
import { INS_BEGIN_TRANSFER } from '../../card/applets/constants.js';
import { fromHex } from '../../card/util/hex.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import type { ChannelRole } from '../../meter/cardslot/ModuleLink.js';
import type { SimulatedCardMeter } from '../../meter/cardslot/createCardMeter.js';
import { MeterModem } from '../../meter/modem/MeterModem.js';
import { HostProtocol } from '../../host/protocol/HostProtocol.js';
import { ClearingKeys } from '../../host/clearing/records.js';
import { REFUSE_SETTLE_CONFLICT, pendingRecordOf } from '../../protocol/clearing.js';
import { REFUSE_BAD_PAYLOAD } from '../../protocol/constants.js';
import { ProtocolError } from '../../protocol/errors.js';
import { encodeTxId, txId } from '../../protocol/TxId.js';
import { SettlePayload } from '../../card/applets/svm/records.js';
import { SETTLE_COMPLETE } from '../../card/applets/constants.js';
import { TransferError } from '../../terminal/index.js';
import type { MeterModemOptions } from '../../meter/modem/MeterModem.js';
import { interceptChannel } from '../reader/interceptChannel.js';
import { cipher, demoIssuer, newMeter, subscriber } from '../meter/cardWorld.js';

const meterId = fromHex('00C0DE');
const CSN_A = fromHex('4D50000000000001');

/** A meter whose card was pulled right after the SVM's BEGIN TRANSFER: one pending slot. */
async function stranded(seed: string, options: MeterModemOptions = {}) {
  const issuer = demoIssuer(seed);
  const box: { cm?: SimulatedCardMeter } = {};
  let armed = true;
  const wrap = (inner: CardChannel, role: ChannelRole): CardChannel =>
    interceptChannel(inner, async (c, next) => {
      const r = await next(c);
      if (armed && role === 'svm' && c.cla === 0x80 && c.ins === INS_BEGIN_TRANSFER) {
        armed = false;
        box.cm!.slot.remove();
      }
      return r;
    });
  const cm = await newMeter({ issuer, meterId, svmMax: 1_000_000, seed, wrap });
  box.cm = cm;
  const card = subscriber(issuer, { csn: CSN_A, balance: 5000, seed: 'a' });
  cm.slot.maxAmount = 700;
  expect((await cm.slot.insert(card.os)).accepted).toBe(false);
  const ring = HostKeyRing.of(issuer.utility(1).host);
  const host = new HostProtocol(cipher, new SeededRng(`${seed}-host`), () => ring);
  return {
    issuer,
    modem: new MeterModem(cm, options),
    host,
    ref: { id: meterId, keyVersion: ring.current! },
  };
}

describe('a. signed pending entries over the line (H = 55)', () => {
  it("each entry's MAC is the SVM's for this page's challenge; altered, replayed or moved, it fails", async () => {
    const w = await stranded('rt-host-line');
    const keys = new ClearingKeys(w.issuer);
    const one = await w.host.uploadRecords(w.modem, w.ref, 0);
    const two = await w.host.uploadRecords(w.modem, w.ref, one.next);
    expect(one.pending).toHaveLength(1);
    expect(one.challenge).not.toEqual(two.challenge); // fresh per page
    const p = one.pending[0]!;
    const check = (e: typeof p, challenge: Uint8Array, id = meterId) =>
      keys.checkPending(id, e.purse, e.slot, pendingRecordOf(e), challenge, e.mac);
    expect(check(p, one.challenge)).toBe(true);
    expect(check(two.pending[0]!, two.challenge)).toBe(true);
    // kept and shown with a later page's challenge
    expect(check(p, two.challenge)).toBe(false);
    // the RV (or amount, or slot) rewritten on the meter bus
    expect(check({ ...p, rv: fromHex('0102030405060708') }, one.challenge)).toBe(false);
    expect(check({ ...p, amount: p.amount + 1 }, one.challenge)).toBe(false);
    expect(check({ ...p, slot: p.slot ^ 1 }, one.challenge)).toBe(false);
    // presented as another meter's
    expect(check(p, one.challenge, fromHex('00C0DF'))).toBe(false);
  });
});

describe("c. the SVM's 6985 to HOST SETTLE reaches the host as its own refusal reason", () => {
  async function refusalFor(sw: number): Promise<number | undefined> {
    const w = await stranded(`rt-host-6985-${sw}`, {
      settle: () => Promise.reject(new TransferError('SVM HOST SETTLE', sw, 'refused')),
    });
    const p = (await w.host.uploadRecords(w.modem, w.ref, 0)).pending[0]!;
    const payload = new SettlePayload(
      SETTLE_COMPLETE,
      p.slot,
      p.csn,
      p.purse,
      p.counter,
      p.amount,
      encodeTxId(txId(40n)),
    );
    const e: unknown = await w.host.settle(w.modem, w.ref, payload).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as ProtocolError).code).toBe('refused');
    return (e as ProtocolError).reason;
  }

  it('6985 (already credited here) -> 07; another SW (9407) stays 06', async () => {
    expect(await refusalFor(0x6985)).toBe(REFUSE_SETTLE_CONFLICT);
    expect(await refusalFor(0x9407)).toBe(REFUSE_BAD_PAYLOAD);
  });
});
