/**
 * The real meter modules as a {@link Terminal}: the host protocol driven through the SAM and SVM
 * applets over `CardChannel`s (terminal/MeterModules.ts): HOST INIT in the SAM (Ks, S1t, R3),
 * then for a value store SAM HOST COMMAND (checks S2h, decrypts EnAmnt) → SVM HOST CREDIT (exactly
 * once per tx id, answer signed for R3) → SAM HOST FINISH (M = E(status ‖ tx id ‖ balance after ‖
 * balance ‖ ID, Ks)), byte-identical to docs/host-protocol.md.
 *
 * Only the value store is carried end to end here: for tariff and usage the SAM authenticates the
 * payload and the meter core (meter/) builds the answer, which this adapter does not model; those
 * headers are refused with REFUSE_UNKNOWN_HEADER.
 */
import { TransferError } from '../../terminal/TransferError.js';
import type { MeterModules } from '../../terminal/MeterModules.js';
import {
  H_VALUE_STORE,
  REFUSAL_NAMES,
  REFUSE_BAD_PAYLOAD,
  REFUSE_BAD_SIGNATURE,
  REFUSE_MALFORMED,
  REFUSE_NO_SESSION,
  REFUSE_UNKNOWN_HEADER,
} from '../../protocol/constants.js';
import { ProtocolError } from '../../protocol/errors.js';
import type { MessageEndpoint, Terminal } from '../../protocol/Terminal.js';
import { decodeMessage, encodeMessage } from '../../protocol/messages.js';

const SW_VERIFICATION_FAILED = 0x6300;
const SW_SECURITY_STATUS = 0x6982;
const SW_CONDITIONS = 0x6985;

function refusal(e: unknown): never {
  if (e instanceof TransferError) {
    const reason =
      e.sw === SW_VERIFICATION_FAILED
        ? REFUSE_BAD_SIGNATURE
        : e.sw === SW_SECURITY_STATUS || e.sw === SW_CONDITIONS || e.sw === undefined
          ? REFUSE_NO_SESSION
          : REFUSE_BAD_PAYLOAD;
    throw new ProtocolError('refused', `${REFUSAL_NAMES[reason]} (${e.message})`, reason);
  }
  throw e;
}

/** What the SVM did in a value store, for the meter's own records (seed 002 credit entry). */
export interface ValueStoreEntry {
  readonly txId: Uint8Array;
  readonly amount: number;
  readonly status: number;
  readonly balance: number;
}

export class CardMeterTerminal implements Terminal {
  /**
   * @param onValueStore called after the SVM answered a value store (before M goes back), e.g. so
   *   the meter core can enter the credit; never for a refused session.
   */
  constructor(
    readonly modules: MeterModules,
    readonly onValueStore?: (e: ValueStoreEntry) => Promise<void> | void,
  ) {}

  async init(r1: Uint8Array, r2: Uint8Array, n: number): Promise<{ s1t: Uint8Array; r3: Uint8Array }> {
    try {
      return await this.modules.hostInit(n, r1, r2);
    } catch (e) {
      return refusal(e);
    }
  }

  async command(h: number, payload: Uint8Array, s2h: Uint8Array): Promise<Uint8Array> {
    if (h !== H_VALUE_STORE)
      throw new ProtocolError('refused', REFUSAL_NAMES[REFUSE_UNKNOWN_HEADER]!, REFUSE_UNKNOWN_HEADER);
    try {
      const r = await this.modules.hostValueStore(payload, s2h);
      await this.onValueStore?.({ txId: r.txId, amount: r.amount, status: r.status, balance: r.balance });
      return r.m;
    } catch (e) {
      return refusal(e);
    }
  }
}

/**
 * A terminal over the card modules (a {@link CardMeterTerminal}, or one that reaches them through
 * a meter's module link) as a {@link MessageEndpoint} for the power-line link: decodes the host's message,
 * drives the applets, and answers the encoded response or a REFUSAL (never throws on bad input).
 */
export function cardMeterEndpoint(terminal: Terminal): MessageEndpoint {
  return {
    async handle(bytes: Uint8Array): Promise<Uint8Array> {
      let m;
      try {
        m = decodeMessage(bytes);
      } catch {
        return encodeMessage({ kind: 'refusal', reason: REFUSE_MALFORMED });
      }
      try {
        if (m.kind === 'init-request') {
          const a = await terminal.init(m.r1, m.r2, m.n);
          return encodeMessage({ kind: 'init-response', s1t: a.s1t, r3: a.r3 });
        }
        if (m.kind === 'command-request')
          return encodeMessage({
            kind: 'command-response',
            m: await terminal.command(m.h, m.payload, m.s2h),
          });
        return encodeMessage({ kind: 'refusal', reason: REFUSE_MALFORMED });
      } catch (e) {
        if (e instanceof ProtocolError && e.reason !== undefined)
          return encodeMessage({ kind: 'refusal', reason: e.reason });
        return encodeMessage({ kind: 'refusal', reason: REFUSE_BAD_PAYLOAD });
      }
    },
  };
}
