/**
 * The real meter modules as a {@link Terminal}: the host protocol driven through the SAM and SVM
 * applets over `CardChannel`s (card/transfer/MeterModules.ts): HOST INIT in the SAM (Ks, S1t, R3),
 * then for a value store SAM HOST COMMAND (checks S2h, decrypts EnAmnt) → SVM HOST CREDIT (exactly
 * once per tx id, answer signed for R3) → SAM HOST FINISH (M = E(status ‖ tx id ‖ balance after ‖
 * balance ‖ ID, Ks)), byte-identical to docs/host-protocol.md.
 *
 * Only the value store is carried end to end here: for tariff and usage the SAM authenticates the
 * payload and the meter core (meter/) builds the answer, which this adapter does not model; those
 * headers are refused with REFUSE_UNKNOWN_HEADER.
 */
import { TransferError } from '../../card/transfer/TransferError.js';
import type { MeterModules } from '../../card/transfer/MeterModules.js';
import {
  H_VALUE_STORE,
  REFUSAL_NAMES,
  REFUSE_BAD_PAYLOAD,
  REFUSE_BAD_SIGNATURE,
  REFUSE_NO_SESSION,
  REFUSE_UNKNOWN_HEADER,
} from '../protocol/constants.js';
import { ProtocolError } from '../protocol/errors.js';
import type { Terminal } from '../protocol/Terminal.js';

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

export class CardMeterTerminal implements Terminal {
  constructor(readonly modules: MeterModules) {}

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
      return (await this.modules.hostValueStore(payload, s2h)).m;
    } catch (e) {
      return refusal(e);
    }
  }
}
