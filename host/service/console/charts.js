// Two charts drawn as plain SVG (no library): the daily energy of a meter stacked by tariff band,
// and its balance over time with recharges and cut-offs marked. Each data point is one SVG
// element with a class (`bar`, `point`, `recharge`, `cutoff`) and a <title> for the tooltip, which
// is also what the browser test counts.

import { money, s } from './dom.js';

const W = 600;
const H = 300;
const PAD = { left: 70, right: 14, top: 16, bottom: 40 };

/** Round tick values covering 0…max, about `n` of them. */
export function ticks(max, n = 5) {
  if (!(max > 0)) return [0, 1];
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((x) => x >= raw) ?? 10 * mag;
  const out = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  if (out[out.length - 1] < max) out.push(Number((out[out.length - 1] + step).toPrecision(12)));
  return out;
}

function frame(label) {
  return s('svg', {
    viewBox: `0 0 ${W} ${H}`,
    class: 'chart',
    role: 'img',
    'aria-label': label,
    preserveAspectRatio: 'xMidYMid meet',
  });
}

function yAxis(svg, yTicks, y, format) {
  const g = s('g', { class: 'axis y' });
  for (const t of yTicks) {
    g.append(
      s('line', { x1: PAD.left, x2: W - PAD.right, y1: y(t), y2: y(t), class: t === 0 ? 'base' : 'grid' }),
      s('text', { x: PAD.left - 8, y: y(t) + 4, 'text-anchor': 'end' }, format(t)),
    );
  }
  svg.append(g);
}

const kwh = (wh) =>
  wh >= 10000 ? `${(wh / 1000).toFixed(0)} kWh` : wh >= 1000 ? `${(wh / 1000).toFixed(1)} kWh` : `${wh} Wh`;

/** Colour class of band i of n (cheapest first). */
const bandClass = (i) => `band band-${Math.min(i, 5)}`;

/**
 * Daily energy, one stacked bar per day: a segment per tariff band (cheapest at the bottom) and a
 * grey one for energy the backups could not place in a band.
 */
export function energyChart(history) {
  const svg = frame('daily energy per tariff band');
  const days = history.days;
  const bands = history.bands;
  const max = Math.max(
    1,
    ...days.map((d) => Math.max(d.totalWh, d.bandWh.reduce((a, b) => a + b, 0) + d.unbandedWh)),
  );
  const yT = ticks(max);
  const top = yT[yT.length - 1];
  const y = (v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  yAxis(svg, yT, y, kwh);
  const slot = (W - PAD.left - PAD.right) / Math.max(days.length, 1);
  const bw = Math.min(48, slot * 0.6);
  const labelEvery = Math.ceil(days.length / 8);
  days.forEach((d, i) => {
    const x = PAD.left + slot * i + (slot - bw) / 2;
    const g = s('g', { class: d.partial ? 'day partial' : 'day', 'data-date': d.date });
    let base = 0;
    const seg = (wh, cls, what) => {
      if (!(wh > 0)) return;
      g.append(
        s(
          'rect',
          {
            x,
            y: y(base + wh),
            width: bw,
            height: Math.max(0.5, y(base) - y(base + wh)),
            class: `bar ${cls}`,
          },
          s('title', null, `${d.date} ${what}: ${kwh(Math.round(wh * 1000) / 1000)}`),
        ),
      );
      base += wh;
    };
    bands.forEach((b, k) => seg(d.bandWh[k], bandClass(k), `${b.percent} % band`));
    seg(d.unbandedWh, 'unbanded', 'not in a band');
    // at most about eight date labels, the latest day always labelled
    if ((days.length - 1 - i) % labelEvery === 0)
      g.append(
        s(
          'text',
          { x: x + bw / 2, y: H - PAD.bottom + 18, 'text-anchor': 'middle', class: 'xlabel' },
          d.date.slice(5) + (d.partial ? '*' : ''),
        ),
      );
    svg.append(g);
  });
  if (days.length === 0)
    svg.append(
      s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'nodata' }, 'no usage backups yet'),
    );
  return svg;
}

/** Legend entries of the energy chart. */
export function energyLegend(history) {
  const items = history.bands.map((b, k) => [bandClass(k), `${b.percent} % of unit charge`]);
  if (history.days.some((d) => d.unbandedWh > 0)) items.push(['unbanded', 'not in a band']);
  return items;
}

function timeLabel(ms, span) {
  const iso = new Date(ms).toISOString();
  if (span < 2 * 3600_000) return iso.slice(11, 19);
  if (span < 2 * 86400_000) return iso.slice(11, 16);
  return iso.slice(5, 10);
}

/**
 * Balance over time: a point per usage backup (red when the meter reported its supply cut), the
 * balance the meter answered after each recharge (a triangle), joined in time order; a red line
 * at every cut-off.
 */
export function creditChart(history) {
  const svg = frame('balance over time with recharges and cut-offs');
  const pts = history.balance.map((p) => ({ t: Date.parse(p.at), v: p.balance, kind: 'backup', p }));
  const recs = history.recharges
    .filter((r) => r.state === 'confirmed' && r.balanceAfter !== null)
    .map((r) => ({ t: Date.parse(r.at), v: r.balanceAfter, kind: 'recharge', r }));
  const all = [...pts, ...recs].sort((a, b) => a.t - b.t || (a.kind === 'backup' ? -1 : 1));
  if (all.length === 0) {
    svg.append(
      s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'nodata' }, 'no usage backups yet'),
    );
    return svg;
  }
  let t0 = all[0].t;
  let t1 = all[all.length - 1].t;
  if (t1 - t0 < 60_000) {
    t0 -= 30_000;
    t1 += 30_000;
  }
  const span = t1 - t0;
  const padT = span * 0.03;
  const x = (t) => PAD.left + ((t - t0 + padT) / (span + 2 * padT)) * (W - PAD.left - PAD.right);
  const yT = ticks(Math.max(1, ...all.map((p) => p.v)));
  const top = yT[yT.length - 1];
  const y = (v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  yAxis(svg, yT, y, money);
  const xa = s('g', { class: 'axis x' });
  for (let i = 0; i <= 4; i++) {
    const t = t0 + (span * i) / 4;
    xa.append(s('text', { x: x(t), y: H - PAD.bottom + 18, 'text-anchor': 'middle' }, timeLabel(t, span)));
  }
  svg.append(xa);
  const cuts = s('g', { class: 'cutoffs' });
  for (const p of pts.filter((q) => q.p.cutOff))
    cuts.append(
      s(
        'line',
        { x1: x(p.t), x2: x(p.t), y1: PAD.top, y2: H - PAD.bottom, class: 'cutoff' },
        s('title', null, `${p.p.at}: supply cut (relay open), balance ${money(p.v)}`),
      ),
    );
  svg.append(cuts);
  svg.append(s('polyline', { class: 'line', points: all.map((p) => `${x(p.t)},${y(p.v)}`).join(' ') }));
  const marks = s('g', { class: 'marks' });
  for (const p of all) {
    if (p.kind === 'backup')
      marks.append(
        s(
          'circle',
          { cx: x(p.t), cy: y(p.v), r: 4, class: p.p.cutOff ? 'point cut' : 'point' },
          s(
            'title',
            null,
            `${p.p.at}: balance ${money(p.v)}, ${p.p.energyWh} Wh${p.p.cutOff ? ', supply cut' : ''}`,
          ),
        ),
      );
    else {
      const cx = x(p.t);
      const cy = y(p.v);
      marks.append(
        s(
          'path',
          { d: `M${cx},${cy - 7} L${cx + 6},${cy + 4} L${cx - 6},${cy + 4} Z`, class: 'recharge' },
          s(
            'title',
            null,
            `${p.r.at}: recharge ${money(p.r.amount)} (tx ${p.r.txId}), balance ${money(p.v)}`,
          ),
        ),
      );
    }
  }
  svg.append(marks);
  return svg;
}
