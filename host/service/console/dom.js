// A few DOM helpers. Everything the API returns is put into the page as text (textContent,
// attributes), never as markup: subscriber names and event details are other people's input.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** An HTML element: `h('td', { class: 'num' }, '12.00')`. */
export const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);

/** An SVG element. */
export const s = (tag, attrs, ...children) => build(document.createElementNS(SVG_NS, tag), attrs, children);

/** Balances and amounts are minor currency units: 12345 → "123.45". */
export function money(minor) {
  if (minor === null || minor === undefined) return '—';
  const sign = minor < 0 ? '−' : '';
  const a = Math.abs(minor);
  return `${sign}${Math.floor(a / 100).toLocaleString('en')}.${String(a % 100).padStart(2, '0')}`;
}

/** "2026-12-05 00:41:07" from ISO 8601 (UTC, as the host keeps it). */
export function when(iso) {
  if (!iso) return '—';
  return iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
}

/** A table with a header row; `rows` are arrays of cells (strings, numbers or nodes). */
export function table(headers, rows, attrs = {}) {
  return h(
    'table',
    attrs,
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        headers.map((c) => h('th', null, c)),
      ),
    ),
    h(
      'tbody',
      null,
      rows.length === 0
        ? h('tr', null, h('td', { colspan: headers.length, class: 'empty' }, 'nothing yet'))
        : rows.map((r) =>
            r instanceof Node
              ? r
              : h(
                  'tr',
                  null,
                  r.map((c) => h('td', null, c)),
                ),
          ),
    ),
  );
}

/** A message line (error or notice) that replaces the previous one in `box`. */
export function say(box, text, kind = 'error') {
  box.replaceChildren(h('p', { class: kind, role: kind === 'error' ? 'alert' : 'status' }, text));
}
