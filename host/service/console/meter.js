// One meter: what the host knows of it, its charts from the usage backups
// (GET /meters/:id/history), its credits, backups and events; Poll and Recharge for the keys that
// may press them.

import { api, apiOr } from './api.js';
import { creditChart, energyChart, energyLegend } from './charts.js';
import { h, money, table, when } from './dom.js';
import { actionButton } from './meters.js';

function requestId() {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return `console-${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}`;
}

function legend(items) {
  return h(
    'ul',
    { class: 'legend' },
    items.map(([cls, text]) => h('li', null, h('span', { class: `swatch ${cls}` }), text)),
  );
}

const plural = (n, what) => `${n} ${what}${n === 1 ? '' : 's'}`;

function fact(label, value) {
  return [h('dt', null, label), h('dd', null, value)];
}

function rechargeForm(meterId, msg, after) {
  const amount = h('input', {
    type: 'number',
    name: 'amount',
    min: '0.01',
    step: '0.01',
    required: true,
    value: '20.00',
  });
  const method = h(
    'select',
    { name: 'method' },
    h('option', { value: 'card' }, 'card'),
    h('option', { value: 'bank' }, 'bank'),
  );
  const account = h('input', {
    type: 'text',
    name: 'account',
    inputmode: 'numeric',
    pattern: '[0-9]{6,34}',
    required: true,
    placeholder: 'card or account number',
  });
  const submit = h('button', { type: 'submit', 'data-action': 'recharge' }, 'Recharge');
  const form = h(
    'form',
    { class: 'recharge-form', id: 'recharge' },
    h('label', null, 'Amount ', amount),
    h('label', null, 'Method ', method),
    h('label', null, 'Account ', account),
    submit,
  );
  // the same request id for retries of one submission: the host answers a repeat from its record
  let rid = requestId();
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    try {
      const minor = Math.round(Number(amount.value) * 100);
      const r = await api('/recharges', {
        method: 'POST',
        body: { requestId: rid, meterId, amount: minor, method: method.value, account: account.value.trim() },
      });
      rid = requestId();
      msg.replaceChildren(
        h(
          'p',
          { class: 'notice', role: 'status' },
          `Recharge tx ${r.txId}: ${r.state}${r.balance !== undefined ? `, balance ${money(r.balance)}` : ''}`,
        ),
      );
      await after();
    } catch (e) {
      msg.replaceChildren(
        h(
          'p',
          { class: 'error', role: 'alert' },
          `Recharge: ${e.status ?? ''} ${e.body?.error ?? ''} — ${e.message}`,
        ),
      );
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export async function meterPage(ctx, id) {
  const { session } = ctx;
  const [m, hist, events] = await Promise.all([
    api(`/meters/${id}`),
    api(`/meters/${id}/history?days=14`),
    session.can('GET /events') ? apiOr('/events?limit=500', null) : null,
  ]);
  const msg = h('div', { class: 'msg' });
  const reload = async () => {
    const page = await meterPage(ctx, id);
    ctx.view.replaceChildren(page);
    page.querySelector('.msg').replaceChildren(...msg.childNodes);
  };
  const last = hist.balance[hist.balance.length - 1];
  const actions = [];
  if (session.can('POST /meters/:id/poll'))
    actions.push(
      actionButton(
        'Poll now',
        { class: 'poll', 'data-action': 'poll' },
        () => api(`/meters/${id}/poll`, { method: 'POST' }),
        msg,
        reload,
      ),
    );
  const canRecharge = session.can('POST /recharges');
  const mine = (events?.events ?? []).filter((e) => e.meterId === id);
  const cutOffs = hist.balance.filter((p) => p.cutOff).length;
  return h(
    'section',
    { class: 'meter', 'data-meter': id },
    h('p', { class: 'crumbs' }, h('a', { href: '#/meters' }, 'Meters'), ' › ', id),
    h('h1', null, 'Meter ', h('span', { class: 'mono' }, id)),
    h(
      'div',
      { class: 'summary' },
      h(
        'dl',
        { class: 'facts' },
        fact('Last balance', h('strong', { class: 'balance' }, money(m.lastBalance))),
        fact('Subscriber', String(m.subscriberId)),
        fact('AS / LS / modem', `${m.as} / ${m.ls} / ${m.modem}`),
        fact('Key version', String(m.keyVersion)),
        fact('Energy register', last ? `${last.energyWh.toLocaleString('en')} Wh` : '—'),
        fact('Last check', last ? `${when(last.at)}${last.cutOff ? ' — supply cut' : ''}` : 'never'),
      ),
      actions.length || canRecharge
        ? h('div', { class: 'actions' }, actions, canRecharge ? rechargeForm(id, msg, reload) : null)
        : null,
    ),
    msg,
    h(
      'div',
      { class: 'charts' },
      h(
        'figure',
        { class: 'card', id: 'energy-chart' },
        h('figcaption', null, `Daily energy by tariff band (${hist.days.length} days; * = day still open)`),
        energyChart(hist),
        legend(energyLegend(hist)),
      ),
      h(
        'figure',
        { class: 'card', id: 'credit-chart' },
        h(
          'figcaption',
          null,
          `Balance: ${plural(hist.balance.length, 'check')}, ${plural(hist.recharges.filter((r) => r.state === 'confirmed').length, 'recharge')}, ${plural(cutOffs, 'check')} with the supply cut`,
        ),
        creditChart(hist),
        legend([
          ['point', 'usage check'],
          ['recharge', 'recharge (balance after)'],
          ['cutoff', 'supply cut (relay open)'],
        ]),
      ),
    ),
    hist.malformedLogs
      ? h('p', { class: 'error' }, `${hist.malformedLogs} stored log(s) could not be read.`)
      : null,
    h('h2', null, 'Credits'),
    table(
      ['tx', 'Amount', 'State', 'Balance after', 'Settled'],
      hist.recharges
        .slice()
        .reverse()
        .map((r) => [
          String(r.txId),
          money(r.amount),
          h('span', { class: `state ${r.state}` }, r.state),
          money(r.balanceAfter),
          when(r.at),
        ]),
      { id: 'credits' },
    ),
    h('h2', null, 'Usage checks'),
    table(
      ['At', 'Balance', 'Energy', 'Flags', 'Clock drift'],
      hist.balance
        .slice(-20)
        .reverse()
        .map((p) => [
          when(p.at),
          money(p.balance),
          `${p.energyWh.toLocaleString('en')} Wh`,
          p.flags ? `0x${p.flags.toString(16)}${p.cutOff ? ' (cut)' : ''}` : '—',
          `${p.driftSeconds} s`,
        ]),
      { id: 'backups' },
    ),
    events === null
      ? null
      : [
          h('h2', null, 'Events'),
          table(
            ['At', 'Kind', 'Detail'],
            mine.slice(0, 30).map((e) => [when(e.at), e.kind, e.detail]),
            { id: 'events' },
          ),
        ],
  );
}
