// The console's start: who is logged in, and which page the address's #fragment names.
//   #/login  #/meters  #/meters/<id>  #/ledger  #/events  #/audit

import { ApiError, api, key } from './api.js';
import { h, say } from './dom.js';
import { loginPage } from './login.js';
import { meterPage } from './meter.js';
import { metersPage } from './meters.js';
import { auditPage, eventsPage, ledgerPage } from './reports.js';

const view = document.getElementById('view');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const logout = document.getElementById('logout');

/** The logged-in key: `{ keyId, name, roles, may }` from GET /session, with `can(route)`. */
let session = null;

function withCan(s) {
  return { ...s, can: (route) => s.may.includes(route) };
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function signOut() {
  key.clear();
  session = null;
  go('#/login');
}

async function ensureSession() {
  if (session) return session;
  if (!key.get()) return null;
  try {
    session = withCan(await api('/session'));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) key.clear();
    else throw e;
  }
  return session;
}

function frame(s) {
  nav.hidden = !s;
  logout.hidden = !s;
  who.textContent = s ? `${s.name ?? 'key ' + s.keyId} · ${s.roles.join(', ')}` : '';
  const page = location.hash.split('/')[1] ?? '';
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('here', a.dataset.page === page);
}

async function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  let s;
  try {
    s = await ensureSession();
  } catch (e) {
    view.replaceChildren();
    say(view, `The host did not answer: ${e.message}`);
    return;
  }
  if (!s || parts[0] === 'login') {
    frame(null);
    if (s && parts[0] === 'login') return go('#/meters');
    view.replaceChildren(
      loginPage(async () => {
        session = null;
        const got = await ensureSession();
        if (got) go('#/meters');
        return got;
      }),
    );
    return;
  }
  frame(s);
  const ctx = { session: s, go, view };
  view.replaceChildren(h('p', { class: 'loading' }, 'loading…'));
  try {
    let page;
    if (parts[0] === 'meters' && parts[1]) page = await meterPage(ctx, parts[1].toUpperCase());
    else if (parts[0] === 'ledger') page = await ledgerPage(ctx);
    else if (parts[0] === 'events') page = await eventsPage(ctx);
    else if (parts[0] === 'audit') page = await auditPage(ctx);
    else page = await metersPage(ctx);
    view.replaceChildren(page);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return signOut();
    view.replaceChildren();
    say(view, e instanceof ApiError ? `${e.status} ${e.body?.error ?? ''}: ${e.message}` : String(e));
  }
}

logout.addEventListener('click', signOut);
window.addEventListener('hashchange', route);
route();
