/**
 * docs/deploy.md states numbers that follow from the templates: the function count, every
 * context key, and the cost tables (alarm and billed-metric counts, each line's arithmetic,
 * the totals). These tests synthesize what the document describes and compare, so the
 * document cannot drift from the stack again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_CONTEXT } from '../../lib/stack-config';
import { REPO_ROOT } from '../../scripts/build-layer';
import { removeSynthOutputs, resourcesOfType, synthesize, type Synthesized } from './support/synth';

const DOC = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');

/** The text of a `##` section, up to the next `##` heading. */
function section(title: string): string {
  const start = DOC.indexOf(`\n## ${title}`);
  if (start < 0) throw new Error(`docs/deploy.md has no section "${title}"`);
  const next = DOC.indexOf('\n## ', start + 1);
  return DOC.slice(start, next < 0 ? undefined : next);
}

interface CostTable {
  readonly heading: string;
  readonly context: Record<string, string>;
  readonly rows: ReadonlyArray<{ readonly line: string; readonly arithmetic: string; readonly amount: number }>;
  readonly total: number;
}

/** Each `###` profile of the cost section: its `npx cdk deploy` command's `-c` pairs and its table. */
function costTables(): CostTable[] {
  return section('Profiles and what they cost at idle')
    .split('\n### ')
    .slice(1)
    .filter((part) => part.includes('| **Total**'))
    .map((part) => {
      const command = /npx cdk deploy((?: -c [A-Za-z]+=[^\s`]+)*)/.exec(part);
      if (!command) throw new Error(`no npx cdk deploy command under "${part.split('\n')[0]}"`);
      const context = Object.fromEntries([...command[1].matchAll(/-c ([A-Za-z]+)=([^\s`]+)/g)].map((pair) => [pair[1], pair[2]]));
      const cells = part
        .split('\n')
        .filter((line) => line.startsWith('| ') && !line.startsWith('| Line') && !line.startsWith('|---'))
        .map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim()));
      const totalRow = cells.find((row) => row[0] === '**Total**');
      const rows = cells.filter((row) => row !== totalRow).map(([line, arithmetic, amount]) => ({ line, arithmetic, amount: Number(amount) }));
      return { heading: part.split('\n')[0], context, rows, total: Number(/[\d.]+/.exec(totalRow![2])![0]) };
    });
}

/** `2 × $0.0256/h × 730` → 37.376; `30 × $0.10 + $3.00` → 6; a cell with no number (`none in this mode`) → 0. */
function evaluate(arithmetic: string): number {
  if (!/\d/.test(arithmetic)) return 0;
  const factor = (text: string): number => Number(/\d+(\.\d+)?/.exec(text.replace(/,/g, ''))?.[0] ?? Number.NaN);
  return arithmetic.split('+').reduce((sum, term) => sum + term.split('×').map(factor).reduce((product, value) => product * value, 1), 0);
}

/** Alarms, and the metrics CloudWatch bills them for (each metric of a metric-math alarm). */
function alarmCost(s: Synthesized): { alarms: number; metrics: number } {
  const alarms = resourcesOfType(s.json, 'AWS::CloudWatch::Alarm');
  const metrics = alarms.reduce((sum, [, alarm]) => {
    const math = alarm.Properties!.Metrics as Array<{ MetricStat?: unknown }> | undefined;
    return sum + (math ? math.filter((metric) => metric.MetricStat).length : 1);
  }, 0);
  return { alarms: alarms.length, metrics };
}

const tables = costTables();
const synths = new Map<string, Synthesized>();

beforeAll(() => {
  for (const table of tables) synths.set(table.heading, synthesize(table.context));
}, 300_000);

afterAll(() => removeSynthOutputs());

describe('the cost tables of docs/deploy.md', () => {
  it('documents the three profiles', () => {
    expect(tables.map((table) => table.heading.split(' — ')[0])).toEqual(['Default dev', 'Low idle cost (dev)', 'Default production']);
  });

  it.each(tables.map((table) => [table.heading, table] as const))('%s: the alarm line counts the alarms and billed metrics the template has', (_, table) => {
    const documented = table.rows.map((row) => /CloudWatch alarms: (\d+) alarms over (\d+) metrics/.exec(row.line)).find(Boolean);
    expect(documented).toBeTruthy();
    const actual = alarmCost(synths.get(table.heading)!);
    expect({ alarms: Number(documented![1]), metrics: Number(documented![2]) }).toEqual(actual);
    const alarmRow = table.rows.find((row) => row.line.startsWith('CloudWatch alarms:'))!;
    expect(alarmRow.arithmetic).toBe(`${actual.metrics} × $0.10`);
  });

  it.each(tables.map((table) => [table.heading, table] as const))('%s: every line is its arithmetic, and the total their sum', (_, table) => {
    for (const row of table.rows) {
      expect({ line: row.line, amount: row.amount }).toEqual({ line: row.line, amount: Math.round(evaluate(row.arithmetic) * 100) / 100 });
    }
    const sum = table.rows.reduce((total, row) => total + row.amount, 0);
    expect(table.total).toBeCloseTo(sum, 2);
  });
});

describe('the rest of docs/deploy.md', () => {
  it('counts the functions the template has', () => {
    const s = synths.values().next().value!;
    const ours = resourcesOfType(s.json, 'AWS::Lambda::Function').filter(([id]) => id.startsWith('Functions'));
    const documented = /(\d+) Node\.js 24 arm64 functions/.exec(DOC);
    expect(Number(documented![1])).toBe(ours.length);
  });

  it('lists every context key, and no other, in the knob table', () => {
    const table = section('Context knobs');
    const keys = [...table.matchAll(/^\| `([A-Za-z]+)` \|/gm)].map((match) => match[1]);
    expect([...keys].sort()).toEqual(Object.keys(DEFAULT_CONTEXT).sort());
  });
});
