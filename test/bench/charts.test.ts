/**
 * The bench's hand-written SVG charts: well-formed XML (every tag closed in order, attributes
 * quoted, text escaped), one line per series, and the points where the data puts them.
 */
import { escapeXml, lineChart, memoryChart, niceStep, ninesAxis, NINES_TICKS } from '../../bench/charts';

/** A small well-formedness check: tags nest and close in order, attributes are quoted, text has no raw `<` or bare `&`. */
function assertWellFormed(svg: string): void {
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/y;
  let i = 0;
  while (i < svg.length) {
    const lt = svg.indexOf('<', i);
    const text = svg.slice(i, lt === -1 ? svg.length : lt);
    expect(text).not.toMatch(/&(?!(lt|gt|amp|apos|quot);)/);
    if (lt === -1) break;
    tag.lastIndex = lt;
    const match = tag.exec(svg);
    if (!match) throw new Error(`malformed tag at ${lt}: ${svg.slice(lt, lt + 60)}`);
    const [, closing, name, , selfClosing] = match;
    if (closing) expect(stack.pop()).toBe(name);
    else if (!selfClosing) stack.push(name);
    i = tag.lastIndex;
  }
  expect(stack).toEqual([]);
}

describe('bench charts', () => {
  it('draws one well-formed line per series, with escaped names', () => {
    // Act
    const svg = lineChart({
      title: 'Latency <p50 & p99>',
      xLabel: 'percentile',
      yLabel: 'ms',
      xTicks: NINES_TICKS,
      series: [
        { name: 'hit', points: [[ninesAxis(50), 2], [ninesAxis(99), 20]] },
        { name: 'miss "after" DEL', points: [[ninesAxis(50), 6], [ninesAxis(99), 40]] },
        { name: 'off', points: [[ninesAxis(50), 5], [ninesAxis(99), 30]] },
      ],
    });

    // Assert
    assertWellFormed(svg);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(3);
    expect(svg.match(/<g class="series"/g)).toHaveLength(3);
    expect(svg).toContain('Latency &lt;p50 &amp; p99&gt;');
    expect(svg).toContain('miss &quot;after&quot; DEL');
    expect(svg).toContain('>p99.9<');
  });

  it('puts a larger value higher up (smaller y) and a later point further right', () => {
    // Act
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [[0, 10], [1, 40]] }] });

    // Assert
    const points = /<polyline [^>]*points="([^"]+)"/.exec(svg)![1].split(' ').map((p) => p.split(',').map(Number));
    expect(points[1][0]).toBeGreaterThan(points[0][0]);
    expect(points[1][1]).toBeLessThan(points[0][1]);
  });

  it('refuses a chart with no finite points rather than drawing an empty one', () => {
    expect(() => lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [[0, Number.NaN]] }] })).toThrow(/no finite points/);
  });

  it('draws the memory chart with two series and one x tick per conversation size', () => {
    // Act
    const svg = memoryChart([
      { messages: 20, storedBytes: 14_000, uncompressedBytes: 15_000 },
      { messages: 100, storedBytes: 20_000, uncompressedBytes: 70_000 },
      { messages: 1000, storedBytes: 120_000, uncompressedBytes: 700_000 },
    ]);

    // Assert
    assertWellFormed(svg);
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg).toContain('>1,000<');
  });

  it('picks 1-2-5 steps, the nines axis and XML escapes', () => {
    expect(niceStep(37, 5)).toBe(10);
    expect(niceStep(0.9, 5)).toBeCloseTo(0.2);
    expect(ninesAxis(99)).toBeCloseTo(2);
    expect(ninesAxis(99.9)).toBeCloseTo(3);
    expect(escapeXml(`<a & 'b'>`)).toBe('&lt;a &amp; &apos;b&apos;&gt;');
  });
});
