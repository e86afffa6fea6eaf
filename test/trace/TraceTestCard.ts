import type { CardOs } from '../../card/os/CardOs.js';
import { concatBytes, equalBytes, fromHex } from '../../card/util/hex.js';

/** AID the trace test card answers to: F0 'MPTRC'. */
export const TRC_AID = fromHex('F0 4D 50 54 52 43');
/** T=1, K=2 historical bytes 'MP', TCK. */
export const TRC_ATR = fromHex('3B 82 80 01 4D 50 5E');

function sw(s: number): Uint8Array {
  return Uint8Array.of(s >> 8, s & 0xff);
}

/**
 * A small card for the trace tests, written here so that traces can be tested without the card
 * runtime: SELECT by AID, READ BINARY / UPDATE BINARY of a 16-byte file, GET CHALLENGE (8 fresh
 * random bytes from `random`), VERIFY of a 4-digit PIN with 3 tries (63Cx), and a MAC command
 * (80 F0) whose answer depends on the last challenge, like a cryptogram.
 */
export class TraceTestCard implements CardOs {
  readonly atr = TRC_ATR;
  powered = false;
  file = fromHex('00 11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF');
  tries = 3;
  #selected = false;
  #challenge: Uint8Array = new Uint8Array(8);

  constructor(
    private readonly random: (n: number) => Uint8Array = (n) => crypto.getRandomValues(new Uint8Array(n)),
  ) {}

  powerUp(): Uint8Array {
    this.powered = true;
    this.#selected = false;
    return this.atr.slice();
  }
  reset(): Uint8Array {
    return this.powerUp();
  }
  powerDown(): void {
    this.powered = false;
  }

  transmit(c: Uint8Array): Uint8Array {
    if (c.length < 4) return sw(0x6700);
    const [, ins, p1, p2] = c as unknown as [number, number, number, number];
    const lc = c.length > 5 ? c[4]! : 0;
    const data = c.subarray(5, 5 + lc);
    switch (ins) {
      case 0xa4:
        if (!equalBytes(data, TRC_AID)) return sw(0x6a82);
        this.#selected = true;
        return concatBytes(fromHex('6F 08 84 06'), TRC_AID, sw(0x9000));
      case 0xb0:
        if (!this.#selected) return sw(0x6986);
        return concatBytes(this.file.subarray(p2, p2 + (c[4] || 16)), sw(0x9000));
      case 0xd6:
        if (!this.#selected) return sw(0x6986);
        this.file.set(data, p2);
        return sw(0x9000);
      case 0x84:
        this.#challenge = this.random(8);
        return concatBytes(this.#challenge, sw(0x9000));
      case 0x20: {
        if (this.tries === 0) return sw(0x6983);
        if (equalBytes(data, fromHex('31 32 33 34'))) {
          this.tries = 3;
          return sw(0x9000);
        }
        this.tries--;
        return sw(0x63c0 | this.tries);
      }
      case 0xf0: {
        // A "MAC" over the challenge: each byte XORed with 0x5A, then p1.
        const mac = this.#challenge.map((b) => b ^ 0x5a ^ p1);
        void p2;
        return concatBytes(mac.subarray(0, 4), sw(0x9000));
      }
      default:
        return sw(0x6d00);
    }
  }
}
