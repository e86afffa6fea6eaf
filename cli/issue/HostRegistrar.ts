/**
 * Registers issued cards with the host through its HTTP API: `POST /cards {serial, subscriberId}`
 * with a Bearer API key (role vending or admin). The host answers 201 for a new card and 200 for a
 * serial already registered to the same subscriber (idempotent), so a batch resumed after a kill
 * between the answer and its journal entry registers nothing twice.
 */

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

  /** @param url the host's base URL (`http://127.0.0.1:8080`). @param apiKey its API key. */
  constructor(url: string, apiKey: string) {
    this.#base = url.replace(/\/+$/, '');
    this.#key = apiKey;
  }

  get url(): string {
    return this.#base;
  }

  /**
   * @returns 'created' (201) or 'exists' (200: registered before, to this subscriber).
   * @throws RegistrationError (fatal for network, 401/403, 5xx; not fatal for 404 / 409 / 400).
   */
  async register(serial: string, subscriberId: number): Promise<'created' | 'exists'> {
    let res: Response;
    try {
      res = await fetch(`${this.#base}/cards`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.#key}` },
        body: JSON.stringify({ serial, subscriberId }),
        signal: AbortSignal.timeout(30_000),
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
      await res.arrayBuffer();
      return res.status === 201 ? 'created' : 'exists';
    }
    let code = `http-${res.status}`;
    let message = res.statusText;
    try {
      const body = (await res.json()) as { error?: string; message?: string };
      if (typeof body.error === 'string') code = body.error;
      if (typeof body.message === 'string') message = body.message;
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
