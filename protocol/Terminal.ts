/**
 * What the host talks to over the link (seed 000 Figs. 1–3, the terminal column). A refusal from the
 * terminal arrives as ProtocolError 'refused'; a link that loses the exchange throws a LinkError
 * (host/network/errors.ts). Implementations: the meter's own modem over its SAM, SVM and meter core
 * (meter/modem/MeterModem.ts), the power-line link as the host sees it (`terminalOverMessages`
 * over `LocalService`), and the simulated terminal of the host's tests and benches
 * (host/sim/SimulatedMeterTerminal.ts).
 */
export interface Terminal {
  /** STEPs 10→12: (R1, R2, n) → (S1t, R3). */
  init(r1: Uint8Array, r2: Uint8Array, n: number): Promise<{ s1t: Uint8Array; r3: Uint8Array }>;
  /** STEPs 14→16: (H, payload, S2h) → M. */
  command(h: number, payload: Uint8Array, s2h: Uint8Array): Promise<Uint8Array>;
}

/** A terminal that answers one encoded message with one encoded message (what a modem carries). */
export interface MessageEndpoint {
  /** May answer at once (a simulator) or asynchronously (real cards behind CardChannels). */
  handle(message: Uint8Array): Uint8Array | Promise<Uint8Array>;
}
