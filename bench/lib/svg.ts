/** A horizontal bar chart of ratios (1.0 = the baseline), as a small standalone SVG. */
export function ratioChart(title: string, bars: { label: string; ratio: number; target?: number }[]): string {
  const rowH = 26;
  const left = 300;
  const width = 760;
  const max = Math.max(1.2, ...bars.map((b) => b.ratio), ...bars.map((b) => b.target ?? 0)) * 1.1;
  const x = (v: number) => left + ((width - left - 20) * v) / max;
  const height = 50 + bars.length * rowH + 20;
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const rows = bars
    .map((b, i) => {
      const y = 40 + i * rowH;
      const target = b.target !== undefined ? `<line x1="${x(b.target)}" y1="${y - 2}" x2="${x(b.target)}" y2="${y + rowH - 6}" stroke="#c0392b" stroke-width="2"/>` : '';
      return `<text x="${left - 8}" y="${y + 14}" text-anchor="end" font-size="12">${esc(b.label)}</text><rect x="${left}" y="${y}" width="${Math.max(1, x(b.ratio) - left)}" height="${rowH - 8}" fill="#2e86c1"/><text x="${x(b.ratio) + 4}" y="${y + 14}" font-size="12">${b.ratio.toFixed(2)}×</text>${target}`;
    })
    .join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="22" font-size="14" font-weight="bold">${esc(title)}</text>
<line x1="${x(1)}" y1="32" x2="${x(1)}" y2="${height - 10}" stroke="#555" stroke-dasharray="4 3"/>
<text x="${x(1) + 3}" y="${height - 12}" font-size="10" fill="#555">baseline = 1.0</text>
${rows}
</svg>
`;
}
