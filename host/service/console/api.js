// The console's only door to the host: the API with the operator's key. The key lives in
// sessionStorage (gone when the tab closes) and goes with every request as a bearer token.

const KEY = 'meterpurse.apiKey';

/** An answer other than 2xx, with the API's `{ error, message, field? }` body when there is one. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export const key = {
  get: () => sessionStorage.getItem(KEY),
  set: (k) => sessionStorage.setItem(KEY, k),
  clear: () => sessionStorage.removeItem(KEY),
};

/**
 * Calls the API. `body` is sent as JSON (and only then with a content type: fastify refuses an
 * empty JSON body).
 * @throws ApiError for any status that is not 2xx.
 */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { authorization: `Bearer ${key.get() ?? ''}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

/** Calls the API, answering `fallback` instead when the key's roles may not read it (403). */
export async function apiOr(path, fallback) {
  try {
    return await api(path);
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return fallback;
    throw e;
  }
}
