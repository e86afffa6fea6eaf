import type { DfNode, EfNode } from '../fs/nodes.js';
import { SecurityState } from '../security/SecurityState.js';

/**
 * Volatile state of one logical channel (ISO/IEC 7816-4 §5.1.1.2): its current DF and EF, the
 * record pointer, the selected applet, its security status, and the response waiting for
 * GET RESPONSE. `A` is the type of the applet a channel selects (card/os/Applet.ts `Applet`; a type
 * parameter so that this file and Applet.ts, which names this class, do not import each other).
 */
export class ChannelState<A = unknown> {
  currentDf: DfNode;
  currentEf: EfNode | undefined;
  /** Current record number of the current EF (7816-4 §7.3.2), undefined when none. */
  recordPointer: number | undefined;
  applet: A | undefined;
  readonly security = new SecurityState();
  /** Response bytes still to be fetched with GET RESPONSE, and the status to give with the last part. */
  pending: { data: Uint8Array; sw: number } | undefined;
  /** Parts of a command chain received so far (7816-4 §5.1.1.1). */
  chain:
    { cla: number; ins: number; p1: number; p2: number; parts: Uint8Array[]; length: number } | undefined;

  constructor(
    readonly number: number,
    mf: DfNode,
  ) {
    this.currentDf = mf;
  }

  /** Selects an EF or DF, resetting the record pointer. */
  setCurrent(node: DfNode | EfNode): void {
    if (node.kind === 'df') {
      this.currentDf = node;
      this.currentEf = undefined;
    } else {
      this.currentDf = node.parent;
      this.currentEf = node;
    }
    this.recordPointer = undefined;
  }
}
