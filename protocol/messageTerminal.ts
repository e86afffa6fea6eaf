import { REFUSAL_NAMES } from './constants.js';
import { ProtocolError } from './errors.js';
import { decodeMessage, encodeMessage } from './messages.js';
import type { Message } from './messages.js';
import type { Terminal } from './Terminal.js';

/**
 * Adapts a function that carries one encoded message and returns the encoded answer into a
 * {@link Terminal}.
 * @throws (from the returned terminal) ProtocolError 'refused' / 'unexpected-message';
 *   MalformedDataError when the answer does not parse; whatever `exchange` throws.
 */
export function terminalOverMessages(exchange: (bytes: Uint8Array) => Promise<Uint8Array>): Terminal {
  const expect = async <K extends Message['kind']>(
    m: Message,
    kind: K,
  ): Promise<Extract<Message, { kind: K }>> => {
    const answer = decodeMessage(await exchange(encodeMessage(m)));
    if (answer.kind === 'refusal')
      throw new ProtocolError(
        'refused',
        REFUSAL_NAMES[answer.reason] ?? `reason ${answer.reason}`,
        answer.reason,
      );
    if (answer.kind !== kind)
      throw new ProtocolError('unexpected-message', `expected ${kind}, got ${answer.kind}`);
    return answer as Extract<Message, { kind: K }>;
  };
  return {
    async init(r1, r2, n) {
      const a = await expect({ kind: 'init-request', r1, r2, n }, 'init-response');
      return { s1t: a.s1t, r3: a.r3 };
    },
    async command(h, payload, s2h) {
      return (await expect({ kind: 'command-request', h, payload, s2h }, 'command-response')).m;
    },
  };
}
