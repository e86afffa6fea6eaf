/**
 * A SIMULATED field of meters for `meterpurse host serve --meters simulated` (the default), its
 * tests and the benches: one {@link SimulatedMeterTerminal} per registered meter on a
 * {@link PowerLineField} (a seeded power-line channel per LS). `--meters real` runs the same
 * network on real meter cores with their SAM and SVM instead (cli/field/cardMeterField.ts). With a state file, every meter's persistent state (its "NVM") is written after each
 * message it handles (write to a temporary file, fsync, rename), so the field survives the host
 * process being killed — which is what the kill -9 test needs to prove nothing is doubled.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import type { BlockCipherProvider } from '../../card/index.js';
import { SeededRng } from '../../card/index.js';
import type { HostKeyRing } from '../../card/index.js';
import { fromHex, toHex } from '../../card/index.js';
import { PowerLineField } from '../network/PowerLineField.js';
import type { ChannelOptions } from '../network/PowerLineChannel.js';
import type { Terminal } from '../../protocol/index.js';
import { SimulatedMeterTerminal } from './SimulatedMeterTerminal.js';
import type { SimulatedMeterState } from './SimulatedMeterTerminal.js';

interface Stored {
  as: number;
  ls: number;
  modem: number;
  keyVersion: number;
  state: Omit<SimulatedMeterState, 'recent' | 'table' | 'pendingTable'> & {
    recent: Array<[string, number]>;
    table: string;
    pendingTable: { activation: number; table: string } | undefined;
  };
}

export class SimulatedField {
  readonly meters = new Map<string, SimulatedMeterTerminal>();
  /** The SVM maximum balance of every simulated meter. */
  readonly maxBalance = 100_000_000;
  readonly #where = new Map<string, { as: number; ls: number; modem: number; keyVersion: number }>();
  readonly #net: PowerLineField;

  constructor(
    readonly cipher: BlockCipherProvider,
    readonly keys: () => HostKeyRing,
    readonly stateFile?: string,
    readonly channelOptions: ChannelOptions = { latencyMs: [5, 20] },
    /** K_svm of a meter (IssuerKeys.svmKey): with it its H = 55 uploads carry MAC'd SVM records. */
    readonly svmKeyOf?: (id: Uint8Array) => Uint8Array,
  ) {
    this.#net = new PowerLineField(channelOptions, 500);
    if (stateFile && existsSync(stateFile)) {
      const data = JSON.parse(readFileSync(stateFile, 'utf8')) as Record<string, Stored>;
      for (const [id, s] of Object.entries(data)) {
        const m = this.#make(id, s.as, s.ls, s.modem, s.keyVersion, 0);
        m.restoreState({
          ...s.state,
          recent: s.state.recent.map(([k, v]) => [BigInt(k), v]),
          table: fromHex(s.state.table),
          pendingTable: s.state.pendingTable && {
            activation: s.state.pendingTable.activation,
            table: fromHex(s.state.pendingTable.table),
          },
        });
      }
    }
  }

  #make(
    id: string,
    as: number,
    ls: number,
    modem: number,
    keyVersion: number,
    balance: number,
  ): SimulatedMeterTerminal {
    const idb = fromHex(id);
    const keys = new Map<number, Uint8Array>();
    const ring = this.keys();
    for (const v of ring.versions) keys.set(v, ring.terminalKey(this.cipher, v, idb));
    const m = new SimulatedMeterTerminal(this.cipher, new SeededRng(`field-meter-${id}-${Date.now()}`), {
      id: idb,
      terminalKeys: keys,
      balance,
      maxBalance: this.maxBalance,
      ...(this.svmKeyOf ? { svmKey: this.svmKeyOf(idb) } : {}),
    });
    const save = this.save.bind(this);
    const endpoint = {
      handle: (b: Uint8Array) => {
        const out = m.handle(b);
        save();
        return out;
      },
    };
    this.#net.attach(id, { as, ls, modem, keyVersion }, endpoint);
    this.meters.set(id, m);
    this.#where.set(id, { as, ls, modem, keyVersion });
    return m;
  }

  /** Installs a simulated meter (personalised with KT of every KH version held now). */
  install(
    id: string,
    as: number,
    ls: number,
    modem: number,
    keyVersion: number,
    balance = 0,
  ): SimulatedMeterTerminal {
    const existing = this.meters.get(id);
    if (existing) return existing;
    const m = this.#make(id, as, ls, modem, keyVersion, balance);
    this.save();
    return m;
  }

  terminal(id: string): Terminal {
    return this.#net.terminal(id);
  }

  /** Writes every meter's persistent state atomically (no-op without a state file). */
  save(): void {
    if (!this.stateFile) return;
    const out: Record<string, Stored> = {};
    for (const [id, m] of this.meters) {
      const s = m.exportState();
      out[id] = {
        ...this.#where.get(id)!,
        state: {
          ...s,
          recent: s.recent.map(([k, v]) => [k.toString(), v]),
          table: toHex(s.table),
          pendingTable: s.pendingTable && {
            activation: s.pendingTable.activation,
            table: toHex(s.pendingTable.table),
          },
        },
      };
    }
    const tmp = `${this.stateFile}.tmp`;
    const fd = openSync(tmp, 'w');
    writeSync(fd, JSON.stringify(out));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.stateFile);
  }
}
