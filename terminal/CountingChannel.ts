import type { CommandApdu } from '../card/index.js';
import type { ResponseApdu } from '../card/index.js';
import type { CardChannel, Protocol } from '../reader/index.js';

/** Running totals of what crossed one or more channels. */
export class ExchangeCounter {
  apdus = 0;
  commandBytes = 0;
  responseBytes = 0;

  get bytes(): number {
    return this.commandBytes + this.responseBytes;
  }
}

/**
 * A `CardChannel` wrapper that counts command APDUs and the bytes of commands and responses
 * (APDU level: T=0 GET RESPONSE exchanges inside the inner channel are not seen here).
 */
export class CountingChannel implements CardChannel {
  constructor(
    readonly inner: CardChannel,
    readonly counter: ExchangeCounter = new ExchangeCounter(),
  ) {}

  get readerName(): string {
    return this.inner.readerName;
  }
  get atr(): Uint8Array {
    return this.inner.atr;
  }
  get protocol(): Protocol {
    return this.inner.protocol;
  }

  async transmit(command: CommandApdu): Promise<ResponseApdu> {
    const r = await this.inner.transmit(command);
    this.counter.apdus++;
    this.counter.commandBytes += command.encode().length;
    this.counter.responseBytes += r.dataView().length + 2;
    return r;
  }

  reset(): Promise<Uint8Array> {
    return this.inner.reset();
  }

  disconnect(): Promise<void> {
    return this.inner.disconnect();
  }
}
