import { describeAppletSw as describeSw } from '../card/index.js';

/**
 * A step of a card, SAM or SVM exchange answered with an unexpected status word, or the devices'
 * state forbids going on. `step` names the command; `sw` is the status word when one came.
 */
export class TransferError extends Error {
  override readonly name = 'TransferError';
  constructor(
    readonly step: string,
    readonly sw: number | undefined,
    detail?: string,
  ) {
    super(
      `${step}: ${sw !== undefined ? `SW ${describeSw(sw)}` : ''}${detail ? `${sw !== undefined ? ' — ' : ''}${detail}` : ''}`,
    );
  }
}
