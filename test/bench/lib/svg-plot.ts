// A small SVG line chart for the benchmarks' plots (one panel per figure, one line per mode), written
// by hand so that a bench needs no plotting package. Deterministic output for the same data. Each line
// has its own colour and dash pattern (modes that coincide stay visible, one over the other), drawn
// thickest first; axes end just past the data, on round tick steps, with labels as precise as the step.

export interface Series {
  name: string;
  points: { x: number; y: number }[];
}

export interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
  /** Start the y axis just below the data instead of at 0 (for a panel whose values move little). */
  zoom?: boolean;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const DASHES = ['', '8 4', '2 3', '10 3 2 3', '4 2', '1 2'];
const WIDTHS = [3.2, 2.2, 1.8, 1.6, 1.4, 1.2];
const W = 760;
const PH = 260;
const M = { l: 70, r: 170, t: 34, b: 40 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A round tick step (1, 2, 2.5 or 5 × 10^k) giving about four intervals up to `v`. */
export function niceStep(v: number): number {
  if (!(v > 0)) return 1;
  const raw = v / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/** The axis end: the first tick step at or past `v` (1 when there is no data above 0). */
export function axisMax(v: number): number {
  const step = niceStep(v);
  return Math.max(step, Math.ceil(v / step - 1e-9) * step);
}

/** A tick label with as many decimals as the step needs (no repeated labels such as 0, 1, 1, 0). */
export function tickLabel(v: number, step: number): string {
  let decimals = 0;
  while (decimals < 3 && Math.abs(Math.round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-9)
    decimals++;
  const text = v.toFixed(decimals);
  return Number(text) >= 10_000 ? Number(text).toLocaleString('en-US') : text;
}

function panel(p: Panel, top: number, xMax: number, xLabel: string): string {
  const ys = p.series.flatMap((s) => s.points.map((q) => q.y));
  const dataMax = Math.max(0, ...ys);
  const dataMin = Math.min(dataMax, ...ys);
  const yStep0 = niceStep(dataMax > 0 ? dataMax : 1);
  // Zoomed: from a round value below the data, with steps fitted to the data's span.
  const span = Math.max(dataMax - dataMin, dataMax * 0.01, 1);
  const yStep = p.zoom ? niceStep(span) : yStep0;
  const yMin = p.zoom ? Math.max(0, Math.floor(dataMin / yStep) * yStep - yStep) : 0;
  const yMax = p.zoom
    ? yMin + Math.max(1, Math.ceil((dataMax - yMin) / yStep - 1e-9)) * yStep
    : axisMax(dataMax);
  const xStep = niceStep(xMax);
  const iw = W - M.l - M.r;
  const ih = PH - M.t - M.b;
  const X = (x: number) => M.l + (x / xMax) * iw;
  const Y = (y: number) => top + M.t + ih - ((y - yMin) / (yMax - yMin)) * ih;
  const out: string[] = [];
  const note =
    dataMax === 0
      ? ' (zero throughout, every mode)'
      : yMin > 0
        ? ` (axis from ${tickLabel(yMin, yStep)})`
        : '';
  out.push(
    `<text x="${M.l}" y="${top + 20}" font-size="14" font-weight="bold">${esc(p.title + note)}</text>`,
  );
  for (let y = yMin; y <= yMax + 1e-9; y += yStep) {
    out.push(
      `<line x1="${M.l}" x2="${M.l + iw}" y1="${Y(y).toFixed(1)}" y2="${Y(y).toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${M.l - 6}" y="${(Y(y) + 4).toFixed(1)}" font-size="11" text-anchor="end">${tickLabel(y, yStep)}</text>`,
    );
  }
  for (let x = 0; x <= xMax + 1e-9; x += xStep) {
    out.push(
      `<line x1="${X(x).toFixed(1)}" x2="${X(x).toFixed(1)}" y1="${top + M.t + ih}" y2="${top + M.t + ih + 4}" stroke="#888"/>`,
      `<text x="${X(x).toFixed(1)}" y="${top + M.t + ih + 16}" font-size="11" text-anchor="middle">${tickLabel(x, xStep)}</text>`,
    );
  }
  out.push(
    `<text x="${M.l + iw / 2}" y="${top + PH - 6}" font-size="11" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="14" y="${top + M.t + ih / 2}" font-size="11" transform="rotate(-90 14 ${top + M.t + ih / 2})" text-anchor="middle">${esc(p.yLabel)}</text>`,
    `<rect x="${M.l}" y="${top + M.t}" width="${iw}" height="${ih}" fill="none" stroke="#888"/>`,
  );
  const style = (i: number) => {
    const dash = DASHES[i % DASHES.length];
    return `stroke="${COLORS[i % COLORS.length]}" stroke-width="${WIDTHS[i % WIDTHS.length]}"${dash ? ` stroke-dasharray="${dash}"` : ''}`;
  };
  p.series.forEach((s, i) => {
    const d = s.points.map((q, k) => `${k ? 'L' : 'M'}${X(q.x).toFixed(1)},${Y(q.y).toFixed(1)}`).join('');
    out.push(`<path d="${d}" fill="none" ${style(i)} stroke-linejoin="round"/>`);
    const ly = top + M.t + 14 + i * 18;
    out.push(
      `<line x1="${M.l + iw + 12}" x2="${M.l + iw + 40}" y1="${ly - 4}" y2="${ly - 4}" ${style(i)}/>`,
      `<text x="${M.l + iw + 46}" y="${ly}" font-size="12">${esc(s.name)}</text>`,
    );
  });
  return out.join('\n');
}

/** Panels stacked vertically, sharing the x axis. */
export function lineChartSvg(title: string, xLabel: string, panels: Panel[]): string {
  const xMax = axisMax(
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
