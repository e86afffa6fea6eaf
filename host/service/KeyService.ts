/**
 * The host's key ring (seed 000: KH[n], several versions held, one current): loaded from the
 * database at start (a new database gets the ceremony's keys), rotated, and retired once no meter
 * holds a version. Everything that needs KH asks this service for the current ring.
 */
import 'reflect-metadata';
import { inject, injectable } from 'tsyringe';
import type { Rng } from '../../card/index.js';
import { HostKeyRing } from '../../card/index.js';
import { diHostDb, diHostRng, diHostSettings, diKeyRepository, diMeterRepository } from '../tokens.js';
import type { HostServiceSettings } from '../tokens.js';
import type { HostDb } from './HostDb.js';
import type { KeyRepository } from './db/KeyRepository.js';
import type { MeterRepository } from './db/MeterRepository.js';
import { ServiceError } from './ServiceError.js';

@injectable()
export class KeyService {
  #ring: HostKeyRing;

  constructor(
    @inject(diKeyRepository) private readonly keysDb: KeyRepository,
    @inject(diMeterRepository) private readonly meters: MeterRepository,
    @inject(diHostDb) private readonly db: HostDb,
    @inject(diHostRng) private readonly rng: Rng,
    @inject(diHostSettings) settings: HostServiceSettings,
  ) {
    let rows = keysDb.active();
    if (rows.length === 0) {
      const keys = settings.initialKeys ?? [
        [0, rng.bytes(16)],
        [1, rng.bytes(16)],
      ];
      keysDb.insertAll(keys, Math.max(...keys.map(([v]) => v)));
      rows = keysDb.active();
    }
    this.#ring = HostKeyRing.of(
      rows.map((r) => [r.version, r.key] as const),
      rows.find((r) => r.current)?.version,
    );
  }

  /** The ring in force now (rotation replaces it). */
  get ring(): HostKeyRing {
    return this.#ring;
  }

  /** KH versions and which meters hold which. */
  keys(): {
    current: number | undefined;
    versions: Array<{ version: number; current: boolean; meters: number }>;
  } {
    const counts = this.meters.countByKeyVersion();
    return {
      current: this.#ring.current,
      versions: this.#ring.versions.map((v) => ({
        version: v,
        current: v === this.#ring.current,
        meters: counts.get(v) ?? 0,
      })),
    };
  }

  /** Rotation: a new KH version becomes current; older versions stay valid until no meter holds them. */
  rotateKey(): number {
    const key = this.rng.bytes(16);
    const next = this.#ring.rotate(key);
    const v = next.current!;
    this.keysDb.insertCurrent(v, key);
    this.#ring = next;
    this.db.event({ kind: 'key-rotated', detail: `KH v${v} current` });
    return v;
  }

  /**
   * Retires a KH version no meter holds any more.
   * @throws ServiceError 409 key-in-use / key-current, 404 unknown-key-version.
   */
  retireKey(version: number): void {
    const held = this.meters.countWithKeyVersion(version);
    if (held > 0)
      throw new ServiceError(409, 'key-in-use', `${held} meters still hold KH v${version}`, 'version');
    if (!this.#ring.has(version))
      throw new ServiceError(404, 'unknown-key-version', `KH v${version} is not held`, 'version');
    if (version === this.#ring.current)
      throw new ServiceError(409, 'key-current', `KH v${version} is current`, 'version');
    this.#ring = this.#ring.retire(version);
    this.keysDb.retire(version);
  }
}
