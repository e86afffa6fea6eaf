/**
 * How a utility's server reaches the electricity host's relay (host/relay/, routes /relay/...):
 * {@link HttpRelayPort} over the HTTP API with the utility's scoped API key, and
 * {@link InProcessRelayPort} straight into a {@link RelayService} (tests, the demo). Both answer
 * the same shapes; a refusal is a {@link RelayPortError} carrying the API's error code.
 */
import type { ApiPrincipal } from '../service/ApiKeyService.js';
import { ServiceError } from '../service/ServiceError.js';
import type { RelayService } from '../relay/RelayService.js';

/** A card command as the relay shows it to its utility. */
export interface RelayCommandStatus {
  readonly id: number;
  readonly state: 'queued' | 'waiting' | 'answered';
  readonly outcome: number | null;
  readonly sw: number | null;
  readonly answer: Uint8Array | null;
}

/** An offline reading the relay holds for the utility. */
export interface RelayedReading {
  readonly id: number;
  readonly csn: string;
  readonly purse: number;
  readonly record: Uint8Array;
}

export interface RelayPort {
  /** Sends a command; the same `ref` again answers the stored one. */
  submit(c: {
    purse: number;
    ref: string;
    csn: string;
    ins: number;
    p2: number;
    data: Uint8Array;
  }): Promise<RelayCommandStatus>;
  command(id: number): Promise<RelayCommandStatus>;
  /** Readings after the cursor `after`; `next` is the cursor of the following page (null: none). */
  readings(after: number, limit?: number): Promise<{ items: RelayedReading[]; next: number | null }>;
}

/** The relay refused a request (status and code of the API's error body). */
export class RelayPortError extends Error {
  override readonly name = 'RelayPortError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const fromHex = (h: string | null) => (h === null ? null : new Uint8Array(Buffer.from(h, 'hex')));

interface CommandJson {
  id: number;
  state: RelayCommandStatus['state'];
  outcome: number | null;
  sw: number | null;
  answer: string | null;
}
const status = (c: CommandJson): RelayCommandStatus => ({
  id: c.id,
  state: c.state,
  outcome: c.outcome,
  sw: c.sw,
  answer: fromHex(c.answer),
});

/** The relay through the host's HTTP API (`fetch`), authenticated with a 'utility' key. */
export class HttpRelayPort implements RelayPort {
  constructor(
    readonly baseUrl: string,
    private readonly apiKey: string,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  async #call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const res = await this.fetchFn(new URL(path, this.baseUrl), {
      method,
      headers: {
        authorization: `Bearer ${this.apiKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
    if (!res.ok) throw new RelayPortError(res.status, json.error ?? 'http', json.message ?? res.statusText);
    return json;
  }

  async submit(c: {
    purse: number;
    ref: string;
    csn: string;
    ins: number;
    p2: number;
    data: Uint8Array;
  }): Promise<RelayCommandStatus> {
    const j = (await this.#call('POST', '/relay/card-commands', {
      ...c,
      data: Buffer.from(c.data).toString('hex'),
    })) as CommandJson;
    return status(j);
  }

  async command(id: number): Promise<RelayCommandStatus> {
    return status((await this.#call('GET', `/relay/card-commands/${id}`)) as CommandJson);
  }

  async readings(after: number, limit = 100): Promise<{ items: RelayedReading[]; next: number | null }> {
    const j = (await this.#call('GET', `/relay/readings?after=${after}&limit=${limit}`)) as {
      items: Array<{ id: number; csn: string; purse: number; record: string }>;
      next: number | null;
    };
    return {
      items: j.items.map((r) => ({ id: r.id, csn: r.csn, purse: r.purse, record: fromHex(r.record)! })),
      next: j.next,
    };
  }
}

/** The relay in the same process, acting as `principal` (a 'utility' key of the relay's host). */
export class InProcessRelayPort implements RelayPort {
  constructor(
    private readonly relay: RelayService,
    private readonly principal: ApiPrincipal,
  ) {}

  #wrap<T>(f: () => T): Promise<T> {
    try {
      return Promise.resolve(f());
    } catch (e) {
      if (e instanceof ServiceError) return Promise.reject(new RelayPortError(e.status, e.error, e.message));
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  submit(c: {
    purse: number;
    ref: string;
    csn: string;
    ins: number;
    p2: number;
    data: Uint8Array;
  }): Promise<RelayCommandStatus> {
    return this.#wrap(() => status(this.relay.submit(this.principal, c).command));
  }

  command(id: number): Promise<RelayCommandStatus> {
    return this.#wrap(() => status(this.relay.command(this.principal, id)));
  }

  readings(after: number, limit = 100): Promise<{ items: RelayedReading[]; next: number | null }> {
    return this.#wrap(() => {
      const p = this.relay.readings(this.principal, { after, limit });
      return {
        items: p.items.map((r) => ({ id: r.id, csn: r.csn, purse: r.purse, record: fromHex(r.record)! })),
        next: p.next,
      };
    });
  }
}
