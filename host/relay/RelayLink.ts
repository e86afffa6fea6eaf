/**
 * The relay's view of one H = 57 "card commands" exchange with an electricity meter (the bytes are
 * protocol/cardCommands.ts; docs/host-protocol.md "Card commands (H = 57)"): the host sends what the
 * meter should carry to cards and learns what the cards answered, from the meter's outbox.
 * {@link hostProtocolRelayLink} is the implementation over the power line; tests may put a
 * simulated meter behind the interface.
 */
import type { CardCommandsBody, CardCommandsRequest } from '../../protocol/index.js';

/** What the host sends in one exchange (ackBelow = the `next` of the last outbox page it stored). */
export type RelayMessage = CardCommandsRequest;
/** What the meter answered (already authenticated and decoded by the session). */
export type RelayReply = CardCommandsBody;

/** One authenticated H = 57 exchange with meter `meterId`. */
export interface RelayLink {
  /** @throws whatever the session throws (timeout, refusal, malformed answer): nothing was learnt. */
  exchange(meterId: string, message: RelayMessage): Promise<RelayReply>;
}
