/**
 * A test's man in the middle: a `CardChannel` that hands every command to `transmit` with the real
 * channel's `next` — to record, rewrite, drop or delay exchanges, or to cut the power around them.
 */
import type { CardChannel } from '../../reader/CardChannel.js';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import type { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';

export type Next = (c: CommandApdu) => Promise<ResponseApdu>;

export function interceptChannel(
  inner: CardChannel,
  transmit: (c: CommandApdu, next: Next) => Promise<ResponseApdu>,
): CardChannel {
  return {
    get readerName() {
      return inner.readerName;
    },
    get atr() {
      return inner.atr;
    },
    get protocol() {
      return inner.protocol;
    },
    transmit: (c) => transmit(c, (x) => inner.transmit(x)),
    reset: () => inner.reset(),
    disconnect: () => inner.disconnect(),
  };
}
