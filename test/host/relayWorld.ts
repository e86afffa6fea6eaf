/**
 * Issue 17 test world for the relay and the utility server: the electricity host's database with a
 * subscriber, its electricity meter(s) and its card; a real subscriber card (PurseApplet, demo
 * issuer) in a virtual reader; each meter's card-command queue (meter/cardslot/CardCommandQueue)
 * behind a RelayLink that goes through the H = 57 wire codec both ways; the gas utility's server
 * with only its own purse's masters, talking to the relay in-process with its scoped API key.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { afterEach } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import { AID_PURSE } from '../../card/applets/constants.js';
import { apdus } from '../../terminal/index.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { ApiKeyService, type ApiPrincipal } from '../../host/service/ApiKeyService.js';
import { HostDb } from '../../host/service/HostDb.js';
import { ApiKeyRepository } from '../../host/service/db/ApiKeyRepository.js';
import { CardRepository } from '../../host/service/db/CardRepository.js';
import { MeterRepository } from '../../host/service/db/MeterRepository.js';
import { SubscriberRepository } from '../../host/service/db/SubscriberRepository.js';
import { RelayService } from '../../host/relay/RelayService.js';
import type { RelayLink, RelayMessage, RelayReply } from '../../host/relay/RelayLink.js';
import { InProcessRelayPort, type RelayPort } from '../../host/utility/RelayPort.js';
import { UtilityServer } from '../../host/utility/UtilityServer.js';
import { UtilityDb } from '../../host/utility/db/UtilityDb.js';
import { CardCommandQueue } from '../../meter/cardslot/CardCommandQueue.js';
import {
  decodeCardCommandsAnswer,
  decodeCardCommandsRequest,
  encodeCardCommandsBody,
  encodeCardCommandsRequest,
} from '../../protocol/cardCommands.js';
import { CSN, World, cipher } from '../transfer/world.js';
import type { OfflineReading } from '../../card/applets/purse/offline.js';
import { A, ok } from '../applets/harness.js';
import { gasSam, readingFields, signedReading, writeReading } from '../applets/offline-helpers.js';

export const GAS = 2;
export const WATER = 3;
export const METER_A = '00A001';
export const METER_B = '00A002';
export const CSN_HEX = toHex(CSN).toUpperCase();
/** 2026-11-22 08:30:00 UTC. */
export const T0 = Date.UTC(2026, 10, 22, 8, 30, 0);

/** One meter's side of H = 57: its queue, reached through the codec; `down` makes the line fail. */
export class SimMeters implements RelayLink {
  readonly queues = new Map<string, CardCommandQueue>();
  /** Every (meter, id) → command bytes the meters were ever sent (to prove one meaning per id). */
  readonly sent = new Map<string, string>();
  down = false;
  /** Fail the exchange after the meter served it (the answer is lost on the line). */
  loseAnswers = false;
  exchanges = 0;

  queue(meterId: string): CardCommandQueue {
    let q = this.queues.get(meterId);
    if (!q) this.queues.set(meterId, (q = new CardCommandQueue()));
    return q;
  }

  async exchange(meterId: string, message: RelayMessage): Promise<RelayReply> {
    if (this.down) throw new Error(`meter ${meterId}: no answer`);
    const wire = this.serveWire(meterId, encodeCardCommandsRequest(message));
    if (this.loseAnswers) throw new Error(`meter ${meterId}: answer lost`);
    const a = decodeCardCommandsAnswer(wire);
    return { queued: a.queued, next: a.next, more: a.more, answers: a.answers, readings: a.readings };
  }

  /**
   * The meter's side on the wire: the H = 57 payload in, the decrypted answer (body ‖ Balance ‖ ID)
   * out. Throws when a relay id comes with other bytes than before (one meaning per id).
   */
  serveWire(meterId: string, payload: Uint8Array): Uint8Array {
    this.exchanges++;
    const req = decodeCardCommandsRequest(payload);
    for (const c of req.commands) {
      const k = `${meterId}:${c.id}`;
      const bytes = `${toHex(c.csn)}:${c.ins}:${c.p2}:${toHex(c.data)}`;
      const before = this.sent.get(k);
      if (before !== undefined && before !== bytes)
        throw new Error(`relay id ${c.id} sent with another meaning`);
      this.sent.set(k, bytes);
    }
    const body = this.queue(meterId).serve(req);
    return Uint8Array.of(...encodeCardCommandsBody(body), 0, 0, 0, 0, ...fromHex(meterId));
  }
}

export interface RelayWorld {
  readonly world: World;
  readonly file: string;
  db: HostDb;
  relay: RelayService;
  readonly meters: SimMeters;
  readonly apiKeys: ApiKeyService;
  readonly gasKey: { id: number; key: string };
  readonly waterKey: { id: number; key: string };
  principal(key: string): ApiPrincipal;
  /** The gas utility's server on its own database file. */
  gas: UtilityServer;
  readonly gasFile: string;
  /** The subscriber's card goes into meter `meterId`'s slot: its queue delivers to the real card. */
  insert(meterId?: string): ReturnType<CardCommandQueue['deliver']>;
  /** A host restart: the database closed and opened again, a new relay over it. */
  restartHost(): void;
  /** A utility-server restart (new process on the same database). */
  restartGas(): void;
  clock: { now: number };
}

export function gasIssuer(world: World): IssuerKeys {
  return new IssuerKeys(cipher, [[GAS, world.issuer.utility(GAS)]]);
}

const made: Array<{ dir: string; w: RelayWorld }> = [];
afterEach(() => {
  for (const { dir, w } of made.splice(0)) {
    for (const db of [w.db.db, w.gas.db.db]) if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

export function relayWorld(o: { meters?: string[]; seed?: string; cardBalance?: number } = {}): RelayWorld {
  const dir = mkdtempSync(join(tmpdir(), 'relay-'));
  const file = join(dir, 'host.db');
  const gasFile = join(dir, 'gas.db');
  const world = new World({ seed: o.seed ?? 'relay', cardBalance: o.cardBalance ?? 0 });
  const meterIds = o.meters ?? [METER_A];
  let db = new HostDb(file);
  const sub = new SubscriberRepository(db).insert({ name: 'subscriber' });
  meterIds.forEach((id, i) =>
    new MeterRepository(db).insert({ id, subscriberId: sub, keyVersion: 1, as: 0, ls: 1, modem: i + 1 }),
  );
  new CardRepository(db).insert(CSN_HEX, sub);
  const meters = new SimMeters();
  let relay = new RelayService(db, meters);
  let apiKeys = new ApiKeyService(new ApiKeyRepository(db));
  const gasKey = relay.createUtilityKey(apiKeys, GAS, 'gas utility');
  const waterKey = relay.createUtilityKey(apiKeys, 3, 'water utility');
  const clock = { now: T0 };
  const w: RelayWorld = {
    world,
    file,
    db,
    relay,
    meters,
    apiKeys,
    gasKey,
    waterKey,
    gasFile,
    clock,
    principal(key) {
      const p = apiKeys.authenticate(key);
      if (!p) throw new Error('unknown key');
      return p;
    },
    gas: undefined as unknown as UtilityServer,
    async insert(meterId = METER_A) {
      const ch = await world.cardChannel();
      const sel = await ch.transmit(apdus.selectAid(AID_PURSE));
      if (sel.sw !== 0x9000) throw new Error(`SELECT ${sel.sw.toString(16)}`);
      const r = await meters.queue(meterId).deliver(ch, CSN, { purses: [1, 2, 3, 4, 5], own: 1 });
      world.reinsertCard();
      return r;
    },
    restartHost() {
      w.db.close();
      db = new HostDb(file);
      relay = new RelayService(db, meters);
      apiKeys = new ApiKeyService(new ApiKeyRepository(db));
      w.db = db;
      w.relay = relay;
      (w as { apiKeys: ApiKeyService }).apiKeys = apiKeys;
      w.restartGas();
    },
    restartGas() {
      try {
        w.gas?.db.close();
      } catch {
        /* closed already */
      }
      w.gas = gasServer(w, port(w));
    },
  };
  w.gas = gasServer(w, port(w));
  made.push({ dir, w });
  return w;
}

function port(w: RelayWorld): RelayPort {
  return new InProcessRelayPort(w.relay, w.principal(w.gasKey.key));
}

export function gasServer(w: RelayWorld, relay: RelayPort): UtilityServer {
  return new UtilityServer({
    db: new UtilityDb(w.gasFile),
    issuer: gasIssuer(w.world),
    purse: GAS,
    relay,
    clock: () => w.clock.now,
    sellerId: fromHex('47415331'),
  });
}

/** The balance of purse `purse` on the world's card. */
export function purseBalance(w: RelayWorld, purse: number): number {
  return w.world.cardView().purses.find((p) => p.id === purse)!.balance;
}

/** Runs `f` on the card's OS with the purse application selected (a fresh insertion). */
export function onCard<T>(w: RelayWorld, f: () => T): T {
  w.world.reinsertCard();
  w.world.card.os.powerUp();
  ok(w.world.card.os, A.selectAid(AID_PURSE));
  return f();
}

/** The gas purse's SFI 04 record on the card. */
export function gasReadingOnCard(w: RelayWorld): Uint8Array {
  return onCard(w, () => ok(w.world.card.os, A.readOfflineReadings(2)));
}

/** The gas purse's SFI 03 record on the card. */
export function gasConfigOnCard(w: RelayWorld): Uint8Array {
  return onCard(w, () => ok(w.world.card.os, A.readOfflineConfig(2)));
}

/** The gas offline meter (0A0B0C) writes `r` onto the card in a session with its SAM. */
export function writeGasReading(w: RelayWorld, r: OfflineReading): void {
  const sam = gasSam(w.world);
  onCard(w, () => writeReading(w.world, sam, r));
}

/** A reading of the gas offline meter, signed by its SAM (no event flags unless given). */
export function signedGasReading(
  w: RelayWorld,
  seq: number,
  o: Parameters<typeof readingFields>[1] = {},
): OfflineReading {
  let r: OfflineReading | undefined;
  onCard(w, () => {
    r = signedReading(gasSam(w.world), readingFields(seq, { events: 0, ...o }), w.world);
  });
  return r!;
}
