/**
 * The host's sessions with meters over the field: the key reference and terminal of a meter (the
 * {@link MeterDirectory} the exactly-once dispatcher uses, with the optional test delay inside
 * each value-store session), and `call`, which turns protocol and link failures into an event and
 * a 502/504.
 */
import 'reflect-metadata';
import { inject, injectable } from 'tsyringe';
import { fromHex } from '../../card/index.js';
import { MalformedDataError } from '../../card/index.js';
import { ProtocolError } from '../../protocol/index.js';
import type { Terminal } from '../../protocol/index.js';
import { LinkTimeoutError } from '../network/errors.js';
import type { MeterKeyRef } from '../protocol/HostProtocol.js';
import type { MeterDirectory } from '../ValueStoreDispatcher.js';
import { diField, diHostDb, diHostSettings, diMeterRegistry } from '../tokens.js';
import type { FieldPort, HostServiceSettings } from '../tokens.js';
import type { HostDb } from './HostDb.js';
import type { MeterRegistry } from './MeterRegistry.js';
import { ServiceError } from './ServiceError.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

@injectable()
export class MeterSessions implements MeterDirectory {
  readonly #delay: number;

  constructor(
    @inject(diMeterRegistry) private readonly registry: MeterRegistry,
    @inject(diField) private readonly field: FieldPort,
    @inject(diHostDb) private readonly db: HostDb,
    @inject(diHostSettings) settings: HostServiceSettings,
  ) {
    this.#delay = settings.sessionDelayMs;
  }

  /** @throws ServiceError 404 when the meter is not registered. */
  ref(meterId: string): MeterKeyRef {
    return { id: fromHex(meterId), keyVersion: this.registry.meter(meterId).keyVersion };
  }

  /** The meter's terminal; with a session delay, value-store commands wait before and after the meter. */
  terminal(meterId: string): Terminal {
    const t = this.field.terminal(meterId);
    const delay = this.#delay;
    if (!delay) return t;
    return {
      init: (a, b, n) => t.init(a, b, n),
      command: async (h, p, s) => {
        await sleep(delay); // authenticated, the command not yet at the meter
        const m = await t.command(h, p, s);
        await sleep(delay); // the meter has credited; the host has not yet recorded it
        return m;
      },
    };
  }

  /** The terminal without the session delay (usage and tariff sessions never had one). */
  direct(meterId: string): Terminal {
    return this.field.terminal(meterId);
  }

  /**
   * Runs one session with a meter.
   * @throws ServiceError 504 meter-unreachable (link timeout), 502 meter-session-failed (protocol
   *   error or malformed answer), after logging 'meter-session-failed'; anything else as it came.
   */
  async call<T>(meterId: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      if (e instanceof ProtocolError || e instanceof LinkTimeoutError || e instanceof MalformedDataError) {
        this.db.event({ kind: 'meter-session-failed', meterId, detail: e.message });
        const timeout = e instanceof LinkTimeoutError;
        throw new ServiceError(
          timeout ? 504 : 502,
          timeout ? 'meter-unreachable' : 'meter-session-failed',
          e.message,
        );
      }
      throw e;
    }
  }
}
