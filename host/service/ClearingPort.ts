/**
 * What the host service needs of clearing (issue 13), declared here so host/service imports
 * nothing of host/clearing/ (which implements it: ClearingService). The HTTP API's
 * POST /clearing/card-records is the one call the service makes into clearing.
 */
export interface ClearingPort {
  /**
   * Checks and stores card log records read back at a vending point.
   * @throws ServiceError (422, nothing stored) for a malformed record, a wrong proof or an unknown
   *   purse: the vending point holding the card is told (a meter's upload quarantines instead).
   */
  ingestCardRecords(
    csn: Uint8Array,
    records: readonly Uint8Array[],
    source: string,
  ): { stored: number; duplicates: number; clones: number };
}
