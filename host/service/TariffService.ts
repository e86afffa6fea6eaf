/**
 * Tariff mode change (seed 000 Fig. 2): the assignment is stored pending, sent, and marked stored
 * once the meter's authenticated answer echoes the activation time.
 */
import 'reflect-metadata';
import { inject, injectable } from 'tsyringe';
import { fromHex, toHex } from '../../card/index.js';
import { RtcTime } from '../../protocol/index.js';
import { TariffTable } from '../../protocol/index.js';
import type { HostProtocol } from '../protocol/HostProtocol.js';
import type { ValueStoreDispatcher } from '../ValueStoreDispatcher.js';
import {
  diHostDb,
  diHostProtocol,
  diMeterRegistry,
  diMeterSessions,
  diTariffRepository,
  diValueStoreDispatcher,
} from '../tokens.js';
import type { HostDb } from './HostDb.js';
import type { MeterRegistry } from './MeterRegistry.js';
import type { MeterSessions } from './MeterSessions.js';
import type { TariffRepository } from './db/TariffRepository.js';
import { ServiceError } from './ServiceError.js';

@injectable()
export class TariffService {
  constructor(
    @inject(diMeterRegistry) private readonly registry: MeterRegistry,
    @inject(diTariffRepository) private readonly tariffs: TariffRepository,
    @inject(diMeterSessions) private readonly sessions: MeterSessions,
    @inject(diHostProtocol) private readonly protocol: HostProtocol,
    @inject(diValueStoreDispatcher) private readonly dispatcher: ValueStoreDispatcher,
    @inject(diHostDb) private readonly db: HostDb,
  ) {}

  /**
   * Sends a flat or example table with `unitCharge`, active from `activation` (YYMMDDhhmmss).
   * @throws ServiceError 404 unknown-meter, 400 validation (activation), 502/504 when the session fails
   *   (the assignment then stays pending).
   */
  async changeTariff(
    meterId: string,
    activation: string,
    unitCharge: number,
    profile: 'flat' | 'example',
  ): Promise<{ id: number; state: string; balance: number }> {
    const m = this.registry.meter(meterId);
    let at: RtcTime;
    try {
      at = RtcTime.parse(activation);
    } catch (e) {
      throw new ServiceError(400, 'validation', (e as Error).message, 'activation');
    }
    const table = profile === 'flat' ? TariffTable.flat(unitCharge) : TariffTable.example(unitCharge);
    const id = this.tariffs.insertPending(m.id, at.toString(), toHex(table.encode()));
    const a = await this.sessions.call(m.id, () =>
      this.protocol.changeTariff(
        this.sessions.direct(m.id),
        { id: fromHex(m.id), keyVersion: m.keyVersion },
        at,
        table,
      ),
    );
    this.tariffs.markStored(id);
    this.dispatcher.reconcile(m.id, a.balance);
    this.db.event({
      kind: 'tariff-stored',
      meterId: m.id,
      detail: `${profile} ${unitCharge} from ${at.toString()}`,
    });
    return { id, state: 'stored', balance: a.balance };
  }
}
