/**
 * The host's request log (fastify's logger, pino): one line per request and answer, at the level
 * `host serve --log-level` names. Nothing secret reaches it — the `authorization` header (an API
 * key) and cookies are never serialised, bodies (card and account numbers) are never logged, and
 * card serials and card/account numbers in a URL are masked to their last four characters.
 */
import type { FastifyServerOptions } from 'fastify';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Masks what may be a card serial (16 hex) or a card/account number (12+ digits) in `url`. */
export function redactUrl(url: string): string {
  return url
    .replace(/\b[0-9A-Fa-f]{16}\b/g, (m) => `************${m.slice(-4)}`)
    .replace(/\b[0-9]{12,}\b/g, (m) => `${'*'.repeat(m.length - 4)}${m.slice(-4)}`);
}

/**
 * Fastify's `logger` option for `level`: false when silent (no logger at all).
 * @param stream where lines go (tests capture them); default standard output.
 */
export function requestLogger(
  level: LogLevel,
  stream?: { write(line: string): unknown },
): FastifyServerOptions['logger'] {
  if (level === 'silent') return false;
  return {
    level,
    ...(stream ? { stream } : {}),
    // belt and braces: the serializers below never include headers, but a handler's own log call might
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'],
      censor: '[redacted]',
    },
    serializers: {
      req: (r: { method: string; url: string; ip?: string }) => ({
        method: r.method,
        url: redactUrl(r.url),
        remoteAddress: r.ip,
      }),
      res: (r: { statusCode: number }) => ({ statusCode: r.statusCode }),
    },
  };
}
