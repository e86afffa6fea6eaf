// Log in: the operator pastes an API key; it is checked with GET /session before it is kept.

import { key } from './api.js';
import { h, say } from './dom.js';

export function loginPage(onKey) {
  const input = h('input', {
    type: 'password',
    id: 'api-key',
    name: 'api-key',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'mpk_…',
    required: true,
  });
  const msg = h('div', { class: 'msg' });
  const form = h(
    'form',
    { class: 'login card', id: 'login' },
    h('h1', null, 'Log in'),
    h(
      'p',
      null,
      'Paste an API key (from ',
      h('code', null, 'meterpurse host keys create'),
      ' or your administrator).',
    ),
    h('label', { for: 'api-key' }, 'API key'),
    input,
    h('button', { type: 'submit' }, 'Log in'),
    h(
      'p',
      { class: 'note' },
      'The key is kept in this tab only (sessionStorage) and sent as a bearer token.',
    ),
    msg,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const k = input.value.trim();
    if (!k) return;
    key.set(k);
    try {
      if (!(await onKey())) say(msg, 'The host does not know this key (or it was revoked).');
    } catch (e) {
      key.clear();
      say(msg, `The host did not answer: ${e.message}`);
    }
  });
  queueMicrotask(() => input.focus());
  return form;
}
