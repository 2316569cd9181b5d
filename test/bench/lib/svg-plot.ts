// A small SVG line chart for the benchmarks' plots (one panel per figure, one line per mode), written
// by hand so that a bench needs no plotting package. Deterministic output for the same data.

export interface Series {
  name: string;
  points: { x: number; y: number }[];
}

export interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const W = 760;
const PH = 260;
const M = { l: 70, r: 170, t: 34, b: 40 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function panel(p: Panel, top: number, xMax: number, xLabel: string): string {
  const yMax = niceMax(Math.max(0, ...p.series.flatMap((s) => s.points.map((q) => q.y))));
  const iw = W - M.l - M.r;
  const ih = PH - M.t - M.b;
  const X = (x: number) => M.l + (x / xMax) * iw;
  const Y = (y: number) => top + M.t + ih - (y / yMax) * ih;
  const out: string[] = [];
  out.push(`<text x="${M.l}" y="${top + 20}" font-size="14" font-weight="bold">${esc(p.title)}</text>`);
  for (let k = 0; k <= 4; k++) {
    const y = (yMax * k) / 4;
    out.push(
      `<line x1="${M.l}" x2="${M.l + iw}" y1="${Y(y).toFixed(1)}" y2="${Y(y).toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${M.l - 6}" y="${(Y(y) + 4).toFixed(1)}" font-size="11" text-anchor="end">${Math.round(y)}</text>`,
    );
    const x = (xMax * k) / 4;
    out.push(
      `<text x="${X(x).toFixed(1)}" y="${top + M.t + ih + 16}" font-size="11" text-anchor="middle">${Math.round(x)}</text>`,
    );
  }
  out.push(
    `<text x="${M.l + iw / 2}" y="${top + PH - 6}" font-size="11" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="14" y="${top + M.t + ih / 2}" font-size="11" transform="rotate(-90 14 ${top + M.t + ih / 2})" text-anchor="middle">${esc(p.yLabel)}</text>`,
    `<rect x="${M.l}" y="${top + M.t}" width="${iw}" height="${ih}" fill="none" stroke="#888"/>`,
  );
  p.series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const d = s.points.map((q, k) => `${k ? 'L' : 'M'}${X(q.x).toFixed(1)},${Y(q.y).toFixed(1)}`).join('');
    out.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="1.6"/>`);
    const ly = top + M.t + 14 + i * 18;
    out.push(
      `<line x1="${M.l + iw + 12}" x2="${M.l + iw + 32}" y1="${ly - 4}" y2="${ly - 4}" stroke="${c}" stroke-width="2"/>`,
      `<text x="${M.l + iw + 38}" y="${ly}" font-size="12">${esc(s.name)}</text>`,
    );
  });
  return out.join('\n');
}

/** Panels stacked vertically, sharing the x axis. */
export function lineChartSvg(title: string, xLabel: string, panels: Panel[]): string {
  const xMax = niceMax(
    Math.max(1, ...panels.flatMap((p) => p.series.flatMap((s) => s.points.map((q) => q.x)))),
  );
  const h = 30 + panels.length * PH;
  const body = panels.map((p, i) => panel(p, 30 + i * PH, xMax, xLabel)).join('\n');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n` +
    `<text x="${W / 2}" y="20" font-size="15" text-anchor="middle">${esc(title)}</text>\n${body}\n</svg>\n`
  );
}
