/**
 * A credit-register factory for `simulate` / `meterpurse meter simulate --register svm`: the
 * meter's credit is the real SVM applet, every token request authorised by the real SAM applet,
 * both behind VirtualReaders (ModuleLink + ModuleCreditRegister, as in a card meter). A top-up is
 * what a household really does: the vending point LOADs a subscriber card's electricity purse and
 * the card's value moves into the SVM through the card-to-SVM transfer (mutual authentication,
 * DEBIT, SVM credit, meter data). Seeded: the same seed gives the same APDUs.
 */
import type { CardChannel } from '../../reader/index.js';
import { VirtualReader } from '../../reader/index.js';
import { NodeCipherProvider } from '../../card/index.js';
import { SeededRng } from '../../card/index.js';
import { IssuerKeys } from '../../card/index.js';
import { bcdDateTime } from '../../card/index.js';
import { PURSE_ELECTRICITY } from '../../card/index.js';
import { defaultPurses, makeSam, makeSubscriberCard, makeSvm } from '../../card/index.js';
import { loadCard } from '../../terminal/index.js';
import { runCardSession } from '../../terminal/index.js';
import { TransferError } from '../../terminal/index.js';
import { CountingChannel, ExchangeCounter } from '../../terminal/index.js';
import { ModuleLink } from '../cardslot/ModuleLink.js';
import { ModuleCreditRegister } from '../cardslot/ModuleCreditRegister.js';
import type { SimulatedCredit } from './SimulatedCredit.js';

export interface SvmCredit extends SimulatedCredit {
  /** APDUs exchanged with the SAM, the SVM and the card so far. */
  readonly apdus: () => number;
}

/** SVM maximum balance of the simulated meter (u32 units). */
const SVM_MAX = 0xffff_ffff;

/**
 * @param seed seeds the chips' RNGs (default 'sim').
 * @throws RangeError unless `initialUnits` is a non-negative u32.
 */
export function createSvmCredit(initialUnits: number, seed = 'sim'): SvmCredit {
  if (!Number.isInteger(initialUnits) || initialUnits < 0 || initialUnits > SVM_MAX)
    throw new RangeError(`initialUnits must be an integer 0..${SVM_MAX}, got ${initialUnits}`);
  const issuer = IssuerKeys.demo(new NodeCipherProvider(), seed);
  const ids = { meterId: Uint8Array.of(0, 0, 1), terminalId: Uint8Array.of(0, 0, 0, 1) };
  const sam = makeSam(issuer, { ...ids, rng: new SeededRng(`${seed}:sam`) });
  const svm = makeSvm(issuer, {
    ...ids,
    rng: new SeededRng(`${seed}:svm`),
    max: SVM_MAX,
    balance: initialUnits,
  });
  const counter = new ExchangeCounter();
  const count = (c: CardChannel): CardChannel => new CountingChannel(c, counter);
  const link = new ModuleLink(new VirtualReader('SAM', sam.os), new VirtualReader('SVM', svm.os), count, {
    key: issuer.coreKey(ids.meterId, PURSE_ELECTRICITY),
    cipher: issuer.crypto.cipher,
  });
  const card = makeSubscriberCard(issuer, {
    csn: Uint8Array.of(0x4d, 0x50, 0, 0, 0, 0, 0, 1),
    purses: defaultPurses(0),
    rng: new SeededRng(`${seed}:card`),
  });
  const cardReader = new VirtualReader('card slot', card.os);
  let topUps = 0;
  return {
    register: new ModuleCreditRegister(link),
    apdus: () => counter.apdus,
    async topUp(units: number): Promise<void> {
      if (!Number.isInteger(units) || units < 0)
        throw new RangeError(`units must be a non-negative integer, got ${units}`);
      if (units === 0) return;
      const ch = count(await cardReader.connect());
      try {
        // The vending and meter clocks are not modelled here: the n-th top-up is stamped
        // 2026-01-01 00:00 plus n minutes, which keeps every log record distinct.
        const dateTime = bcdDateTime(Date.UTC(2026, 0, 1) + topUps++ * 60_000);
        const terminalId = Uint8Array.of(0x56, 0x45, 0x4e, 0x44);
        await loadCard(ch, issuer, { purse: PURSE_ELECTRICITY, amount: units, terminalId, dateTime });
        const o = await link.use((m) =>
          runCardSession(m, ch, { purse: PURSE_ELECTRICITY, dateTime, maxAmount: units }),
        );
        if (o.amount + o.recovered !== units)
          throw new TransferError('top-up', undefined, `moved ${o.amount + o.recovered} of ${units} units`);
      } finally {
        await ch.disconnect();
      }
    },
  };
}
