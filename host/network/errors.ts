/** The link lost an exchange: no matching answer before the deadline. */
export class LinkTimeoutError extends Error {
  override readonly name = 'LinkTimeoutError';
  constructor(
    readonly modem: number,
    readonly seq: number,
    readonly waitedMs: number,
  ) {
    super(`no answer from modem ${modem} for frame ${seq} within ${waitedMs} ms`);
  }
}

/** An address that no LS or meter answers to. */
export class UnknownMeterError extends Error {
  override readonly name = 'UnknownMeterError';
  constructor(readonly meterId: string) {
    super(`unknown meter ${meterId}`);
  }
}
