/**
 * Registers issued cards with the host through its HTTP API: `POST /cards {serial, subscriberId}`
 * with a Bearer API key (role vending or admin). The host answers 201 for a new card and 200 for a
 * serial already registered to the same subscriber (idempotent), so a batch resumed after a kill
 * between the answer and its journal entry registers nothing twice.
 */
import { shown } from '../../terminal/index.js';

/** Why a card was not registered: the host's error code and message, and whether to stop the batch. */
export class RegistrationError extends Error {
  override readonly name = 'RegistrationError';
  constructor(
    message: string,
    /** The host's error code (`card-taken`, `unknown-subscriber`, ...) or `http-<status>` / `unreachable`. */
    readonly code: string,
    /**
     * True when no later card can be registered either (host unreachable, key refused, host
     * failing): the batch stops and a restart resumes. False for a refusal of this card only.
     */
    readonly fatal: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class HostRegistrar {
  readonly #base: string;
  readonly #key: string;

  /**
   * @param url the host's base URL (`http://127.0.0.1:8080`). @param apiKey its API key.
   * @throws RegistrationError (code `bad-url`, fatal) for a URL that is not http(s), or holds a
   *   user or password (it would be printed and written to the audit log; the key goes in the
   *   API key file).
   */
  constructor(url: string, apiKey: string) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new RegistrationError(`--host '${url}' is not a URL (want http://host:port)`, 'bad-url', true);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new RegistrationError(`--host '${url}' must be http:// or https://`, 'bad-url', true);
    if (u.username || u.password)
      throw new RegistrationError(
        '--host must not hold a user or password (it would be printed and audited): the API key file is the credential',
        'bad-url',
        true,
      );
    this.#base = url.replace(/\/+$/, '');
    this.#key = apiKey;
  }

  get url(): string {
    return this.#base;
  }

  /**
   * @returns 'created' (201) or 'exists' (200: registered before, to this subscriber).
   * @throws RegistrationError (fatal for network, a redirect, 401/403, 5xx, a 200/201 that is not
   *   this card; not fatal for 404 / 409 / 400).
   */
  async register(serial: string, subscriberId: number): Promise<'created' | 'exists'> {
    let res: Response;
    try {
      res = await fetch(`${this.#base}/cards`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.#key}` },
        body: JSON.stringify({ serial, subscriberId }),
        signal: AbortSignal.timeout(30_000),
        // A redirect is never followed: fetch turns a redirected POST into a GET, whose 200 (a
        // page of cards) would have passed for "registered before".
        redirect: 'manual',
      });
    } catch (e) {
      throw new RegistrationError(
        `host ${this.#base} unreachable: ${(e as Error).message}`,
        'unreachable',
        true,
        { cause: e },
      );
    }
    if (res.status === 201 || res.status === 200) {
      // The answer must be this card (201: its serial; 200: its serial and subscriber), else
      // something that is not the host's POST /cards answered (a proxy, another service).
      let body: { serial?: unknown; subscriberId?: unknown } = {};
      try {
        body = (await res.json()) as typeof body;
      } catch {
        // not JSON: refused below
      }
      const sameSerial =
        typeof body.serial === 'string' && body.serial.toUpperCase() === serial.toUpperCase();
      if (!sameSerial || (res.status === 200 && body.subscriberId !== subscriberId))
        throw new RegistrationError(
          `host ${this.#base} answered ${res.status} to POST /cards for card ${serial} with something that is not that card of subscriber ${subscriberId}: is --host the meterpurse host API?`,
          'bad-answer',
          true,
        );
      return res.status === 201 ? 'created' : 'exists';
    }
    if (res.status >= 300 && res.status < 400) {
      await res.arrayBuffer().catch(() => undefined);
      throw new RegistrationError(
        `host ${this.#base} redirects (${res.status}${res.headers.get('location') ? ` to ${res.headers.get('location')}` : ''}): give --host the URL it redirects to`,
        `http-${res.status}`,
        true,
      );
    }
    let code = `http-${res.status}`;
    let message = res.statusText;
    try {
      const body = (await res.json()) as { error?: string; message?: string };
      // The host's words reach the operator's terminal: control characters escaped, cut.
      if (typeof body.error === 'string') code = shown(body.error, 40);
      if (typeof body.message === 'string') message = shown(body.message, 200);
    } catch {
      // not JSON: the status line says enough
    }
    const fatal = res.status === 401 || res.status === 403 || res.status >= 500 || res.status === 429;
    throw new RegistrationError(
      `host refused card ${serial} (${res.status} ${code}): ${message}`,
      code,
      fatal,
    );
  }
}
