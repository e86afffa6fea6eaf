// Meters: a page of meters (GET /meters, paged) with each one's last reported balance, the state
// of its credits (GET /meters/:id) and its latest event (GET /events, when the key may read them).

import { ApiError, api, apiOr } from './api.js';
import { h, money, say, table, when } from './dom.js';

const PAGE = 25;

export function creditState(credits) {
  const n = { confirmed: 0, pending: 0, refused: 0 };
  for (const c of credits) n[c.state] = (n[c.state] ?? 0) + 1;
  return n;
}

function creditCell(n) {
  if (n.confirmed + n.pending + n.refused === 0) return h('span', { class: 'credits none' }, 'no credits');
  return h(
    'span',
    { class: 'credits' },
    h('span', { class: 'ok' }, `${n.confirmed} confirmed`),
    n.pending ? h('span', { class: 'warn' }, ` · ${n.pending} pending`) : null,
    n.refused ? h('span', { class: 'bad' }, ` · ${n.refused} refused`) : null,
  );
}

/** A button that calls the API and then `after()`; errors are shown in `msg`. */
export function actionButton(label, attrs, run, msg, after) {
  const b = h('button', { type: 'button', ...attrs }, label);
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      await run();
      await after();
    } catch (e) {
      say(
        msg,
        e instanceof ApiError ? `${label}: ${e.status} ${e.body?.error ?? ''} — ${e.message}` : String(e),
      );
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

export async function metersPage(ctx, after) {
  const { session, go } = ctx;
  const q = `/meters?limit=${PAGE}${after ? `&after=${encodeURIComponent(after)}` : ''}`;
  const [list, events] = await Promise.all([
    api(q),
    session.can('GET /events') ? apiOr('/events?limit=500', null) : null,
  ]);
  const details = await Promise.all(list.items.map((m) => api(`/meters/${m.id}`)));
  const lastEvent = new Map();
  for (const e of events?.events ?? [])
    if (e.meterId && !lastEvent.has(e.meterId)) lastEvent.set(e.meterId, e);
  const canPoll = session.can('POST /meters/:id/poll');
  const msg = h('div', { class: 'msg' });
  const reload = async () => ctx.view.replaceChildren(await metersPage(ctx, after));
  const rows = list.items.map((m, i) => {
    const ev = lastEvent.get(m.id);
    return h(
      'tr',
      { 'data-meter': m.id },
      h('td', null, h('a', { href: `#/meters/${m.id}`, class: 'mono' }, m.id)),
      h('td', { class: 'num' }, m.subscriberId),
      h('td', { class: 'mono' }, `${m.as}/${m.ls}/${m.modem}`),
      h('td', { class: 'num balance' }, money(m.lastBalance)),
      h('td', null, creditCell(creditState(details[i].credits))),
      h(
        'td',
        { class: 'event' },
        events === null ? '—' : ev ? [h('span', { class: 'kind' }, ev.kind), ` ${when(ev.at)}`] : 'none',
      ),
      h(
        'td',
        { class: 'actions' },
        canPoll
          ? actionButton(
              'Poll',
              { class: 'poll', 'data-action': 'poll' },
              () => api(`/meters/${m.id}/poll`, { method: 'POST' }),
              msg,
              reload,
            )
          : null,
      ),
    );
  });
  return h(
    'section',
    { class: 'meters' },
    h('h1', null, 'Meters'),
    msg,
    table(['Meter', 'Subscriber', 'AS/LS/modem', 'Last balance', 'Credits', 'Latest event', ''], rows, {
      id: 'meters',
    }),
    h(
      'p',
      { class: 'pager' },
      after
        ? h('button', { type: 'button', class: 'quiet', onclick: () => go('#/meters') }, '« First page')
        : null,
      list.next
        ? h(
            'button',
            {
              type: 'button',
              class: 'quiet',
              onclick: async () => ctx.view.replaceChildren(await metersPage(ctx, list.next)),
            },
            'Next page »',
          )
        : null,
    ),
  );
}
