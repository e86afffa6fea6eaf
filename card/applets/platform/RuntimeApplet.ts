/**
 * Puts a purse, SAM or SVM application on the card runtime (card/os/Applet.ts): it registers the
 * application's instructions, allocates its records on the runtime's persistent store at install,
 * personalises a fresh card, and forwards commands.
 *
 * The applications keep one session per card (not per logical channel): a SELECT or a reset
 * starts them afresh. CLA channel and secure-messaging bits are stripped before the application
 * sees the command (it only tells 00 from 80).
 */
import { CommandApdu } from '../../iso7816/CommandApdu.js';
import type { Applet, CardServices, CommandContext, Handler } from '../../os/Applet.js';
import type { BlockCipherProvider, Rng } from '../../crypto/types.js';
import { RegionRecordStore, type RecordLayout } from './RegionRecordStore.js';

/** What the three applications implement. */
export interface Application {
  select(): Uint8Array;
  process(command: CommandApdu): Uint8Array;
  reset(): void;
}

export interface RuntimeAppletSpec<A extends Application> {
  aid: Uint8Array;
  /** Instructions the application handles (anything else is left to the OS). */
  ins: readonly number[];
  layout: RecordLayout;
  /** Store region name prefix. */
  prefix: string;
  make(store: RegionRecordStore, cipher: BlockCipherProvider, rng: Rng): A;
  /** Writes a fresh card's records (in one commit). */
  personalise(store: RegionRecordStore): void;
}

export class RuntimeApplet<A extends Application> implements Applet {
  readonly aid: Uint8Array;
  readonly #spec: RuntimeAppletSpec<A>;
  readonly #ins: ReadonlySet<number>;
  #app: A | undefined;
  #records: RegionRecordStore | undefined;
  readonly #handle: Handler;

  constructor(spec: RuntimeAppletSpec<A>) {
    this.aid = Uint8Array.from(spec.aid);
    this.#spec = spec;
    this.#ins = new Set(spec.ins);
    this.#handle = (apdu: CommandApdu) => this.app.process(plainClass(apdu));
  }

  /** The application (after install). */
  get app(): A {
    if (!this.#app) throw new Error('applet not installed');
    return this.#app;
  }

  get records(): RegionRecordStore {
    if (!this.#records) throw new Error('applet not installed');
    return this.#records;
  }

  install(services: CardServices, personalise: boolean): void {
    this.#records = new RegionRecordStore(services.store, this.#spec.layout, this.#spec.prefix);
    this.#app = this.#spec.make(this.#records, services.cipher, services.rng);
    if (personalise) this.#spec.personalise(this.#records);
  }

  select(_ctx: CommandContext): Uint8Array {
    this.app.reset();
    return this.app.select();
  }

  deselect(): void {
    this.#app?.reset();
  }

  handler(ins: number): Handler | undefined {
    return this.#ins.has(ins) ? this.#handle : undefined;
  }

  reset(): void {
    this.#app?.reset();
    this.#records?.clearCache();
  }
}

function plainClass(apdu: CommandApdu): CommandApdu {
  const cla = apdu.cla & 0x80 ? 0x80 : 0x00;
  if (cla === apdu.cla) return apdu;
  return new CommandApdu({
    cla,
    ins: apdu.ins,
    p1: apdu.p1,
    p2: apdu.p2,
    data: apdu.dataView(),
    ...(apdu.ne !== undefined ? { ne: apdu.ne } : {}),
    extended: apdu.extended,
  });
}
