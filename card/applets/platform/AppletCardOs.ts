/**
 * A small ISO/IEC 7816 card OS hosting the purse, SAM and SVM applets: SELECT by AID
 * (7816-4 §11.2.2), dispatch to the selected applet, status words from SwError (STYLE.md rule 4),
 * T=0 case-4 behaviour (61xx + GET RESPONSE, 7816-3 §12.2.3), power loss through the store's tear
 * hook. It is the applets' own platform until the card runtime of `card/os/` is wired in.
 */
import { CardPowerLostError, type CardOs } from '../../os/CardOs.js';
import { CommandApdu } from '../../iso7816/CommandApdu.js';
import { MalformedDataError, SwError } from '../../iso7816/errors.js';
import {
  SW_CLA_NOT_SUPPORTED,
  SW_CONDITIONS_NOT_SATISFIED,
  SW_CORRECT_LENGTH_00,
  SW_FILE_NOT_FOUND,
  SW_INCORRECT_P1P2,
  SW_INS_NOT_SUPPORTED,
  SW_NO_ERROR,
  SW_UNKNOWN,
  SW_WRONG_LENGTH,
} from '../../iso7816/sw.js';
import { equalBytes } from '../../util/hex.js';
import type { Applet } from './Applet.js';
import type { AppletStore } from './AppletStore.js';

const SW_BYTES_REMAINING = 0x6100;

export interface AppletCardOsOptions {
  atr: Uint8Array;
  protocol: 'T=0' | 'T=1';
  store: AppletStore;
  applets: Applet[];
  /** Called with anything unexpected an applet threw (answered 6F00). */
  onInternalError?: (e: unknown) => void;
}

function sw(data: Uint8Array, status: number): Uint8Array {
  const out = new Uint8Array(data.length + 2);
  out.set(data, 0);
  out[data.length] = status >> 8;
  out[data.length + 1] = status & 0xff;
  return out;
}

export class AppletCardOs implements CardOs {
  readonly atr: Uint8Array;
  readonly protocol: 'T=0' | 'T=1';
  readonly store: AppletStore;
  readonly applets: readonly Applet[];
  #powered = false;
  #selected: Applet | undefined;
  #pendingResponse: Uint8Array | undefined;
  readonly #onInternalError: ((e: unknown) => void) | undefined;

  constructor(o: AppletCardOsOptions) {
    this.atr = Uint8Array.from(o.atr);
    this.protocol = o.protocol;
    this.store = o.store;
    this.applets = o.applets;
    this.#onInternalError = o.onInternalError;
  }

  get powered(): boolean {
    return this.#powered;
  }

  powerUp(): Uint8Array {
    this.store.recover();
    this.#clearVolatile();
    this.#powered = true;
    return this.atr.slice();
  }

  reset(): Uint8Array {
    if (!this.#powered) return this.powerUp();
    this.#clearVolatile();
    return this.atr.slice();
  }

  powerDown(): void {
    this.#powered = false;
    this.#clearVolatile();
  }

  #clearVolatile(): void {
    this.#selected = undefined;
    this.#pendingResponse = undefined;
    for (const a of this.applets) a.reset();
  }

  /** @throws CardPowerLostError when the card is not powered or a tear cuts the power. */
  transmit(command: Uint8Array): Uint8Array {
    if (!this.#powered) throw new CardPowerLostError('card is not powered');
    let apdu: CommandApdu;
    try {
      apdu = CommandApdu.decode(command);
    } catch (e) {
      if (e instanceof MalformedDataError) return sw(new Uint8Array(0), SW_WRONG_LENGTH);
      return sw(new Uint8Array(0), SW_UNKNOWN);
    }
    try {
      return this.#dispatch(apdu);
    } catch (e) {
      if (e instanceof CardPowerLostError) {
        this.powerDown();
        throw e;
      }
      if (e instanceof SwError) return sw(new Uint8Array(0), e.sw);
      this.#onInternalError?.(e);
      return sw(new Uint8Array(0), SW_UNKNOWN);
    }
  }

  #dispatch(apdu: CommandApdu): Uint8Array {
    if ((apdu.cla & 0x03) !== 0) throw new SwError(0x6881, 'logical channels are not supported');
    if (apdu.ins === 0xc0 && apdu.cla === 0x00) return this.#getResponse(apdu);
    this.#pendingResponse = undefined;
    let data: Uint8Array;
    if (apdu.ins === 0xa4 && apdu.cla === 0x00) data = this.#select(apdu);
    else {
      if (!this.#selected) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'no application selected');
      if (apdu.cla !== 0x00 && apdu.cla !== 0x80) throw new SwError(SW_CLA_NOT_SUPPORTED);
      data = this.#selected.process(apdu);
    }
    if (data.length === 0) return sw(data, SW_NO_ERROR);
    if (this.protocol === 'T=0' && apdu.nc > 0) {
      // T=0 case 4: the response data waits for GET RESPONSE (ISO/IEC 7816-3 §12.2.3).
      this.#pendingResponse = data;
      return sw(new Uint8Array(0), SW_BYTES_REMAINING | (data.length & 0xff));
    }
    if (apdu.ne === undefined) return sw(new Uint8Array(0), SW_NO_ERROR);
    if (apdu.ne < data.length && apdu.ne !== 256)
      return sw(new Uint8Array(0), SW_CORRECT_LENGTH_00 | (data.length & 0xff));
    return sw(data, SW_NO_ERROR);
  }

  #getResponse(apdu: CommandApdu): Uint8Array {
    const pending = this.#pendingResponse;
    this.#pendingResponse = undefined;
    if (!pending) throw new SwError(SW_CONDITIONS_NOT_SATISFIED, 'no response data waiting');
    const ne = apdu.ne ?? 256;
    if (ne !== 256 && ne !== pending.length) {
      this.#pendingResponse = pending;
      return sw(new Uint8Array(0), SW_CORRECT_LENGTH_00 | (pending.length & 0xff));
    }
    return sw(pending, SW_NO_ERROR);
  }

  #select(apdu: CommandApdu): Uint8Array {
    if (apdu.p1 !== 0x04 || (apdu.p2 !== 0x00 && apdu.p2 !== 0x0c)) throw new SwError(SW_INCORRECT_P1P2);
    const aid = apdu.dataView();
    const found = this.applets.find((a) => equalBytes(a.aid, aid));
    if (!found) throw new SwError(SW_FILE_NOT_FOUND, 'no application with this AID');
    // A SELECT always starts the application afresh: no session survives it.
    this.#selected?.reset();
    found.reset();
    this.#selected = found;
    const fci = found.select();
    return apdu.p2 === 0x0c ? new Uint8Array(0) : fci;
  }

  /** Unsupported INS helper for applets. */
  static insNotSupported(): never {
    throw new SwError(SW_INS_NOT_SUPPORTED);
  }
}
