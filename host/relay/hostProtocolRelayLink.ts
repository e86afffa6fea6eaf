/**
 * The {@link RelayLink} over the power line: each exchange is one authenticated host session with
 * H = 57 through {@link HostProtocol.cardCommands} (docs/host-protocol.md "Card commands (H = 57)");
 * the answer already passed the session's checks (S1t, Ks, ID' = ID) and the codec's. This file only
 * drops the Balance ‖ ID the SAM appended. With `line` (the host's dispatcher), the session waits
 * for any credit or settlement in flight on that meter, so no two host sessions interleave there.
 */
import type { HostProtocol } from '../protocol/HostProtocol.js';
import type { MeterDirectory, MeterLine } from '../ValueStoreDispatcher.js';
import type { RelayLink } from './RelayLink.js';

/** The relay's exchanges over `protocol`, reaching each meter through `meters` (the host's MeterSessions). */
export function hostProtocolRelayLink(
  protocol: HostProtocol,
  meters: MeterDirectory,
  line?: MeterLine,
): RelayLink {
  return {
    async exchange(meterId, message) {
      const session = async () => {
        const a = await protocol.cardCommands(meters.terminal(meterId), meters.ref(meterId), message);
        return { queued: a.queued, next: a.next, more: a.more, answers: a.answers, readings: a.readings };
      };
      return line ? line.exclusive(meterId, session) : session();
    },
  };
}
