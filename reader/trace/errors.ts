import { CardChannelError } from '../CardChannel.js';

/**
 * A `ReplayChannel` was asked for something its trace does not hold: a command that does not
 * match (after masks) the recorded one, a reset where the trace has a command, or anything
 * after the trace ran out.
 */
export class ReplayMismatchError extends CardChannelError {
  override readonly name = 'ReplayMismatchError';
  constructor(
    message: string,
    /** Number (1-based) of the exchange the replay stood at (commands answered so far + 1). */
    readonly index: number,
    /** Hex of what the trace expected there (a command, or 'reset'); undefined past its end. */
    readonly expected: string | undefined,
    /** Hex of what came instead (a command, or 'reset'). */
    readonly got: string,
    readerName?: string,
  ) {
    super(message, readerName);
  }
}

/** A recorded channel error replayed: the trace says the card or reader failed at this point. */
export class ReplayedChannelError extends CardChannelError {
  override readonly name = 'ReplayedChannelError';
}
