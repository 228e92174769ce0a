/** One bar: a ratio (1.0 = its baseline), and an optional target line. */
export interface RatioBar {
  label: string;
  ratio: number;
  target?: number;
  /**
   * What 1.0 is for this bar. Bars with different baselines are different measurements: the chart
   * draws each baseline as a heading over its own bars, never one "ratio" over all of them.
   */
  baseline?: string;
}

/** A horizontal bar chart of ratios, as a small standalone SVG; bars grouped under their baseline. */
export function ratioChart(title: string, bars: RatioBar[]): string {
  const rowH = 26;
  const headH = 22;
  const left = 300;
  const width = 760;
  const max = Math.max(1.2, ...bars.map((b) => b.ratio), ...bars.map((b) => b.target ?? 0)) * 1.1;
  const x = (v: number) => left + ((width - left - 20) * v) / max;
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const rows: string[] = [];
  let y = 40;
  let group: string | undefined;
  for (const b of bars) {
    if (b.baseline !== undefined && b.baseline !== group) {
      group = b.baseline;
      rows.push(`<text x="10" y="${y + 14}" font-size="12" font-weight="bold" fill="#333">1.0 = ${esc(b.baseline)}</text>`);
      y += headH;
    }
    const target = b.target !== undefined ? `<line x1="${x(b.target)}" y1="${y - 2}" x2="${x(b.target)}" y2="${y + rowH - 6}" stroke="#c0392b" stroke-width="2"/>` : '';
    rows.push(
      `<text x="${left - 8}" y="${y + 14}" text-anchor="end" font-size="12">${esc(b.label)}</text><rect x="${left}" y="${y}" width="${Math.max(1, x(b.ratio) - left)}" height="${rowH - 8}" fill="#2e86c1"/><text x="${x(b.ratio) + 4}" y="${y + 14}" font-size="12">${b.ratio.toFixed(2)}×</text>${target}`,
    );
    y += rowH;
  }
  const height = y + 30;
  const grouped = bars.some((b) => b.baseline !== undefined);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="22" font-size="14" font-weight="bold">${esc(title)}</text>
<line x1="${x(1)}" y1="32" x2="${x(1)}" y2="${height - 10}" stroke="#555" stroke-dasharray="4 3"/>
<text x="${x(1) + 3}" y="${height - 12}" font-size="10" fill="#555">${grouped ? '1.0 = the baseline named above each group' : 'baseline = 1.0'}</text>
${rows.join('\n')}
</svg>
`;
}
