/**
 * The card-pull / power-cut sweeps' channel: every channel of a session wraps its inner one with the
 * same {@link CutPlan}, which counts APDUs over all of them and calls `cut` right before APDU number
 * `cutAt` (0-based) is sent.
 */
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import type { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import type { CardChannel } from '../../reader/CardChannel.js';

export class CutPlan {
  count = 0;
  constructor(
    readonly cutAt: number,
    readonly cut: () => void,
  ) {}
}

export class CutChannel implements CardChannel {
  constructor(
    readonly inner: CardChannel,
    readonly plan: CutPlan,
  ) {}
  get readerName() {
    return this.inner.readerName;
  }
  get atr() {
    return this.inner.atr;
  }
  get protocol() {
    return this.inner.protocol;
  }
  transmit(command: CommandApdu): Promise<ResponseApdu> {
    if (this.plan.count++ === this.plan.cutAt) this.plan.cut();
    return this.inner.transmit(command);
  }
  reset() {
    return this.inner.reset();
  }
  disconnect() {
    return this.inner.disconnect();
  }
}
