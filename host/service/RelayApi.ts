/**
 * What the host service's HTTP API needs of the relay for other utilities (issue 17), declared
 * here so host/service imports nothing of host/relay/ (which implements it: RelayService, bound by
 * the composition root, host/register.ts).
 */
import type { ApiKeyService, ApiPrincipal } from './ApiKeyService.js';
import type { Page } from './db/paging.js';

/** A command as the API shows it. */
export interface CardCommandView {
  id: number;
  purse: number;
  ref: string;
  csn: string;
  ins: number;
  p2: number;
  state: 'queued' | 'waiting' | 'answered';
  /** 0 the card answered, 1 the meter refused it; null before any answer. */
  outcome: number | null;
  /** The last status word: final when answered, the reason of waiting otherwise. */
  sw: number | null;
  /** The card's answer data (hex), once answered. */
  answer: string | null;
  createdAt: string;
  answeredAt: string | null;
}

/** An offline reading a meter found on a card, as the API shows it. */
export interface RelayReadingView {
  id: number;
  csn: string;
  purse: number;
  meterId: string;
  record: string;
  reportedBy: string;
  receivedAt: string;
}

export interface RelayApi {
  createUtilityKey(keys: ApiKeyService, purse: number, name: string): { id: number; key: string };
  submit(
    p: ApiPrincipal | null,
    c: { purse: number; ref: string; csn: string; ins: number; p2: number; data: Uint8Array },
  ): { command: CardCommandView; created: boolean };
  command(p: ApiPrincipal | null, id: number): CardCommandView;
  readings(
    p: ApiPrincipal | null,
    q: { purse?: number; after?: number; limit?: number },
  ): Page<RelayReadingView, number>;
}
