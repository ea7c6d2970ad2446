/**
 * Hand-written SVG line charts for the bench report (no charting dependency): one chart, a few
 * series of (x, y) points, axes with ticks, a legend. Pure: the same input gives the same bytes,
 * so a committed chart changes only when its numbers do.
 */

/** One line of a chart. */
export interface ChartSeries {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

/** A tick on an axis: where (in data units) and what it says. */
export interface ChartTick {
  readonly value: number;
  readonly label: string;
}

export interface LineChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly ChartSeries[];
  /** Ticks of the x axis. @default five evenly spaced values */
  readonly xTicks?: readonly ChartTick[];
  /** @default 720 */
  readonly width?: number;
  /** @default 380 */
  readonly height?: number;
}

/** Colour-blind-safe palette (Okabe–Ito). */
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9'];

/** Text for SVG: the five XML special characters escaped. */
export function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] as string);
}

/** A "nice" step (1, 2 or 5 × 10^n) that cuts `span` into about `count` pieces. */
export function niceStep(span: number, count: number): number {
  if (!(span > 0)) return 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const residual = raw / magnitude;
  return (residual > 5 ? 10 : residual > 2 ? 5 : residual > 1 ? 2 : 1) * magnitude;
}

const fixed = (value: number): string => (Math.round(value * 10) / 10).toString();
const tickLabel = (value: number): string => (Math.abs(value) >= 100 || Number.isInteger(value) ? value.toFixed(0) : value.toPrecision(2));

/** An SVG document: one line per series (with a marker per point), y from 0, a legend at the top left. */
export function lineChart(options: LineChartOptions): string {
  const width = options.width ?? 720;
  const height = options.height ?? 380;
  const margin = { left: 70, right: 20, top: 40, bottom: 55 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const points = options.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (points.length === 0) throw new Error(`lineChart "${options.title}": no finite points`);
  const xs = points.map(([x]) => x);
  const xMin = Math.min(...xs, ...(options.xTicks ?? []).map((t) => t.value));
  const xMaxRaw = Math.max(...xs, ...(options.xTicks ?? []).map((t) => t.value));
  const xMax = xMaxRaw > xMin ? xMaxRaw : xMin + 1;
  const yStep = niceStep(Math.max(...points.map(([, y]) => y)), 5);
  const yMax = Math.max(yStep, Math.ceil(Math.max(...points.map(([, y]) => y)) / yStep) * yStep);
  const px = (x: number) => margin.left + ((x - xMin) / (xMax - xMin)) * plotWidth;
  const py = (y: number) => margin.top + plotHeight - (y / yMax) * plotHeight;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(options.title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(options.title)}</text>`,
  ];
  // Horizontal grid and y ticks.
  for (let y = 0; y <= yMax + yStep / 2; y += yStep) {
    out.push(`<line x1="${margin.left}" y1="${fixed(py(y))}" x2="${margin.left + plotWidth}" y2="${fixed(py(y))}" stroke="#dddddd"/>`);
    out.push(`<text x="${margin.left - 6}" y="${fixed(py(y) + 4)}" text-anchor="end">${escapeXml(tickLabel(y))}</text>`);
  }
  const xTicks = options.xTicks ?? Array.from({ length: 5 }, (_, i) => xMin + ((xMax - xMin) * i) / 4).map((value) => ({ value, label: tickLabel(value) }));
  for (const tick of xTicks) {
    out.push(`<line x1="${fixed(px(tick.value))}" y1="${margin.top}" x2="${fixed(px(tick.value))}" y2="${margin.top + plotHeight}" stroke="#eeeeee"/>`);
    out.push(`<text x="${fixed(px(tick.value))}" y="${margin.top + plotHeight + 16}" text-anchor="middle">${escapeXml(tick.label)}</text>`);
  }
  out.push(`<line x1="${margin.left}" y1="${margin.top + plotHeight}" x2="${margin.left + plotWidth}" y2="${margin.top + plotHeight}" stroke="#333333"/>`);
  out.push(`<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${margin.top + plotHeight}" stroke="#333333"/>`);
  out.push(`<text x="${margin.left + plotWidth / 2}" y="${height - 12}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`);
  out.push(`<text x="16" y="${margin.top + plotHeight / 2}" text-anchor="middle" transform="rotate(-90 16 ${margin.top + plotHeight / 2})">${escapeXml(options.yLabel)}</text>`);

  options.series.forEach((series, index) => {
    const colour = COLOURS[index % COLOURS.length];
    const finite = series.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    const path = finite.map(([x, y]) => `${fixed(px(x))},${fixed(py(y))}`).join(' ');
    out.push(`<g class="series" data-name="${escapeXml(series.name)}">`);
    out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${path}"/>`);
    for (const [x, y] of finite) out.push(`<circle cx="${fixed(px(x))}" cy="${fixed(py(y))}" r="3" fill="${colour}"/>`);
    out.push('</g>');
    const legendY = margin.top + 12 + index * 16;
    out.push(`<line x1="${margin.left + 10}" y1="${legendY - 4}" x2="${margin.left + 30}" y2="${legendY - 4}" stroke="${colour}" stroke-width="2"/>`);
    out.push(`<text x="${margin.left + 36}" y="${legendY}">${escapeXml(series.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Percentiles a latency curve is drawn at. */
export const CURVE_PERCENTILES = [50, 75, 90, 95, 99, 99.5, 99.9] as const;

/** Where a percentile sits on a "nines" axis: p50 → 0.3, p90 → 1, p99 → 2, p99.9 → 3 (the tail gets room). */
export const ninesAxis = (p: number): number => -Math.log10(1 - p / 100);

/** Ticks of the nines axis. */
export const NINES_TICKS: readonly ChartTick[] = [50, 90, 99, 99.9].map((p) => ({ value: ninesAxis(p), label: `p${p}` }));

/** Redis memory per cached conversation by its size: stored (zstd above the threshold) vs the same body uncompressed. */
export function memoryChart(rows: readonly { messages: number; storedBytes: number; uncompressedBytes: number }[]): string {
  const kib = (value: number) => value / 1024;
  return lineChart({
    title: 'Redis memory per cached conversation (MEMORY USAGE)',
    xLabel: 'messages in the conversation (log scale)',
    yLabel: 'KiB per cached conversation',
    xTicks: rows.map((row) => ({ value: Math.log10(row.messages), label: row.messages.toLocaleString('en-US') })),
    series: [
      { name: 'as stored (zstd from 16 KiB)', points: rows.map((row) => [Math.log10(row.messages), kib(row.storedBytes)] as const) },
      { name: 'the same body uncompressed', points: rows.map((row) => [Math.log10(row.messages), kib(row.uncompressedBytes)] as const) },
    ],
  });
}
