/**
 * The one applet model of the card runtime (card/os/Applet.ts is the OS's side of it): an
 * application declares the instructions it handles, its records and its personalisation, and
 * `RuntimeApplet` puts it on the runtime — it registers those INS bytes with the OS, allocates the
 * application's records on the persistent store at install, personalises a fresh card, and
 * forwards each command with the OS's `CommandContext` (channel, security status, file system,
 * store) for the applications that need more than their records.
 *
 * ```
 *   Iso7816Os ──SELECT AID──> RuntimeApplet ──install──> make(records, cipher, rng, services) → Application
 *             ──INS in ins──> RuntimeApplet ──────────> Application.process(command, ctx)
 * ```
 *
 * The applications keep one session per card (not per logical channel): a SELECT or a reset
 * starts them afresh. CLA channel and secure-messaging bits are stripped before the application
 * sees the command (it only tells 00 from 80; `ctx.channel.number` says which channel it came on).
 */
import { CommandApdu } from '../../iso7816/CommandApdu.js';
import type { ResponseApdu } from '../../iso7816/ResponseApdu.js';
import type { Applet, CardServices, CommandContext, Handler, HandlerResult } from '../../os/Applet.js';
import type { BlockCipherProvider, Rng } from '../../crypto/types.js';
import { RegionRecordStore, type RecordLayout } from './RegionRecordStore.js';

/** What an application implements. */
export interface Application {
  /**
   * The FCI answered to SELECT, or a `ResponseApdu` to answer it with a warning status (the
   * selection is made); throw SwError to refuse the selection.
   */
  select(): Uint8Array | ResponseApdu;
  /**
   * One command whose INS the application declared. Returns response data (or a `ResponseApdu`
   * for data with a warning status); throws SwError for every refusal.
   */
  process(command: CommandApdu, ctx: CommandContext): HandlerResult;
  /** Forgets every volatile state (SELECT, deselection, reset, power-down). */
  reset(): void;
}

export interface RuntimeAppletSpec<A extends Application> {
  aid: Uint8Array;
  /** Instructions the application handles (anything else is left to the OS). */
  ins: readonly number[];
  layout: RecordLayout;
  /** Store region name prefix. */
  prefix: string;
  /**
   * Makes the application at install, after its records were allocated. `services` are the
   * card's own (store, file system, PINs, keys) for an application that needs more than records;
   * anything it allocates there must be allocated in a fixed order (allocation is positional).
   */
  make(store: RegionRecordStore, cipher: BlockCipherProvider, rng: Rng, services: CardServices): A;
  /** Writes a fresh card's records (in one commit); `app` is the application just made. */
  personalise(store: RegionRecordStore, app: A): void;
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
    this.#handle = (apdu: CommandApdu, ctx: CommandContext) => this.app.process(plainClass(apdu), ctx);
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
    this.#app = this.#spec.make(this.#records, services.cipher, services.rng, services);
    if (personalise) this.#spec.personalise(this.#records, this.#app);
  }

  select(_ctx: CommandContext): Uint8Array | ResponseApdu {
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
