// The ledger, the event log and the audit trail.

import { api } from './api.js';
import { h, money, table, when } from './dom.js';

export async function ledgerPage() {
  const l = await api('/reports/ledger');
  const accounts = Object.entries(l.accounts).sort(([a], [b]) => a.localeCompare(b));
  return h(
    'section',
    { class: 'ledger' },
    h('h1', null, 'Ledger'),
    h(
      'p',
      { class: l.balanced ? 'notice' : 'error', id: 'balanced' },
      l.balanced ? 'Balanced: debits equal credits.' : 'NOT balanced: debits and credits differ.',
      ` In transit ${money(l.inTransit)}; pending credits ${money(l.pendingSum)}`,
      l.inTransit === l.pendingSum ? ' (equal, as they must be).' : ' — they differ.',
    ),
    table(
      ['Account', 'Balance (debit − credit)'],
      accounts.map(([a, b]) => [h('span', { class: 'mono' }, a), h('span', { class: 'num' }, money(b))]),
      { id: 'accounts' },
    ),
  );
}

export async function eventsPage() {
  const { events } = await api('/events?limit=200');
  return h(
    'section',
    null,
    h('h1', null, 'Events'),
    table(
      ['At', 'Kind', 'Meter', 'Detail'],
      events.map((e) => [
        when(e.at),
        e.kind,
        e.meterId ? h('a', { href: `#/meters/${e.meterId}`, class: 'mono' }, e.meterId) : '—',
        e.detail,
      ]),
      { id: 'events' },
    ),
  );
}

export async function auditPage(ctx, before) {
  const page = await api(`/audit?limit=100${before ? `&before=${before}` : ''}`);
  return h(
    'section',
    null,
    h('h1', null, 'Audit trail'),
    h('p', { class: 'note' }, 'Every state-changing request that presented a valid key, with its outcome.'),
    table(
      ['At', 'Who', 'Request', 'Meter', 'Reference', 'Outcome'],
      page.items.map((e) => [
        when(e.at),
        e.keyName ?? (e.keyId === null ? '—' : `key ${e.keyId}`),
        h('span', { class: 'mono' }, `${e.method} ${e.route}`),
        e.meterId ?? '—',
        e.ref ?? '—',
        h('span', { class: e.status < 300 ? 'ok' : e.status < 500 ? 'warn' : 'bad' }, String(e.status)),
      ]),
      { id: 'audit' },
    ),
    page.next
      ? h(
          'p',
          { class: 'pager' },
          h(
            'button',
            {
              type: 'button',
              class: 'quiet',
              onclick: async () => ctx.view.replaceChildren(await auditPage(ctx, page.next)),
            },
            'Older »',
          ),
        )
      : null,
  );
}
