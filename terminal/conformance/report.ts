/**
 * What a conformance run writes: a readable text report and JUnit XML for CI systems
 * (testsuites / testsuite / testcase with failure, error and skipped elements).
 */
import type { CaseResult, CaseStatus } from './CardSuite.js';

/** The shape both the card suite and the terminal checker report in. */
export interface SuiteReport {
  readonly suite: string;
  readonly target: string;
  readonly cases: readonly CaseResult[];
  readonly ms: number;
  /** Extra "key: value" lines for the text report's header. */
  readonly facts?: readonly string[];
}

const MARK: Record<CaseStatus, string> = {
  pass: 'PASS',
  fail: 'FAIL',
  skip: 'SKIP',
  warn: 'WARN',
  error: 'ERR ',
};

export function counts(cases: readonly CaseResult[]): Record<CaseStatus, number> {
  const c: Record<CaseStatus, number> = { pass: 0, fail: 0, skip: 0, warn: 0, error: 0 };
  for (const x of cases) c[x.status]++;
  return c;
}

/** True when no case failed or errored (warnings and skips do not fail a run). */
export function passed(r: SuiteReport): boolean {
  const c = counts(r.cases);
  return c.fail === 0 && c.error === 0;
}

/** The readable report: one line per case, the exchanges of each failure under it, a summary. */
export function textReport(r: SuiteReport): string {
  const c = counts(r.cases);
  const lines = [`${r.suite}`, `target: ${r.target}`, ...(r.facts ?? []), ''];
  for (const x of r.cases) {
    lines.push(`${MARK[x.status]}  ${x.section.padEnd(12)} ${x.id}  ${x.title}`);
    if (x.message) lines.push(`      ${x.status === 'pass' ? 'note' : 'why'}: ${x.message}`);
    if (x.status !== 'pass' && x.leaves !== 'nothing') lines.push(`      leaves: ${x.leaves}`);
    if ((x.status === 'fail' || x.status === 'error') && x.exchanges.length)
      for (const e of x.exchanges.slice(-12)) lines.push(`        ${e}`);
  }
  lines.push(
    '',
    `${r.cases.length} cases: ${c.pass} passed, ${c.fail} failed, ${c.error} errors, ${c.warn} warnings, ${c.skip} skipped in ${(r.ms / 1000).toFixed(2)} s`,
    passed(r) ? 'RESULT: PASS' : 'RESULT: FAIL',
  );
  return `${lines.join('\n')}\n`;
}

/** XML 1.0 escaping of text and attribute values; characters XML cannot hold become U+FFFD. */
export function xmlEscape(s: string): string {
  let clean = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    const ok =
      c === 0x09 ||
      c === 0x0a ||
      c === 0x0d ||
      (c >= 0x20 && c <= 0xd7ff) ||
      (c >= 0xe000 && c <= 0xfffd) ||
      c >= 0x10000;
    clean += ok ? ch : '\uFFFD';
  }
  return clean
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const sec = (ms: number) => (ms / 1000).toFixed(3);

/**
 * JUnit XML: one testsuite, a testcase per case (classname = the spec section, name = case id and
 * title), `failure` for a failed case, `error` for one that could not run, `skipped` for a skipped
 * one; a warning passes with its message in `system-out`.
 */
export function junitXml(r: SuiteReport): string {
  const c = counts(r.cases);
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xmlEscape(r.suite)}" tests="${r.cases.length}" failures="${c.fail}" errors="${c.error}" skipped="${c.skip}" time="${sec(r.ms)}">`,
    `  <testsuite name="${xmlEscape(r.suite)}" hostname="${xmlEscape(r.target)}" tests="${r.cases.length}" failures="${c.fail}" errors="${c.error}" skipped="${c.skip}" time="${sec(r.ms)}">`,
  ];
  if (r.facts?.length) {
    out.push('    <properties>');
    for (const f of r.facts) {
      const i = f.indexOf(':');
      out.push(
        `      <property name="${xmlEscape(i > 0 ? f.slice(0, i).trim() : f)}" value="${xmlEscape(i > 0 ? f.slice(i + 1).trim() : '')}"/>`,
      );
    }
    out.push('    </properties>');
  }
  for (const x of r.cases) {
    const head = `    <testcase classname="${xmlEscape(`purse-spec ${x.section}`)}" name="${xmlEscape(`${x.id}: ${x.title}`)}" time="${sec(x.ms)}"`;
    const body = x.exchanges.join('\n');
    if (x.status === 'pass') {
      out.push(`${head}/>`);
    } else if (x.status === 'warn') {
      out.push(
        `${head}>`,
        `      <system-out>${xmlEscape(`WARNING: ${x.message ?? ''}`)}</system-out>`,
        '    </testcase>',
      );
    } else if (x.status === 'skip') {
      out.push(`${head}>`, `      <skipped message="${xmlEscape(x.message ?? '')}"/>`, '    </testcase>');
    } else {
      const el = x.status === 'fail' ? 'failure' : 'error';
      out.push(
        `${head}>`,
        `      <${el} message="${xmlEscape(x.message ?? '')}" type="${x.status === 'fail' ? 'SpecDeviation' : 'RunError'}">${xmlEscape(`${x.message ?? ''}\nleaves: ${x.leaves}\n${body}`)}</${el}>`,
        '    </testcase>',
      );
    }
  }
  out.push('  </testsuite>', '</testsuites>', '');
  return out.join('\n');
}
