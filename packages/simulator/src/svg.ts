/**
 * A minimal line-chart writer: a few polylines, axes with round ticks, a legend. Hand-written rather than
 * a plotting library: the simulator needs three kinds of static chart, byte-identical for a given input
 * (the committed docs/mechanism/*.svg are checked for staleness in CI), with no DOM, no canvas and no
 * dependency that would ship fonts or a headless browser. Every number is printed with fixed precision.
 */
export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

export interface ChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** A logarithmic y axis (values below 1 are drawn at 1). */
  readonly logY?: boolean;
  readonly width?: number;
  readonly height?: number;
}

const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const fixed = (n: number) => (Math.round(n * 10) / 10).toFixed(1);

/** Round tick values covering [0, max]: 1, 2 or 5 times a power of ten apart. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Math.round(v / step) * step);
  if (ticks[ticks.length - 1]! < max) ticks.push(ticks[ticks.length - 1]! + step);
  return ticks;
}

function label(n: number): string {
  if (n >= 1_000_000) return `${+(n / 1_000_000).toFixed(1)}M`;
  if (n >= 10_000) return `${+(n / 1_000).toFixed(1)}k`;
  return Number.isInteger(n) ? String(n) : n.toFixed(2).replace(/0+$/, "").replace(/\.$/, "");
}

export function lineChart(options: ChartOptions): string {
  const width = options.width ?? 720;
  const height = options.height ?? 400;
  const margin = { left: 64, right: 180, top: 36, bottom: 48 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const all = options.series.flatMap((s) => s.points);
  const xMax = Math.max(1, ...all.map(([x]) => x));
  const yRaw = Math.max(0, ...all.map(([, y]) => y));
  const xTicks = niceTicks(xMax);
  const xTop = xTicks[xTicks.length - 1]!;
  let yTicks: number[];
  let yOf: (y: number) => number;
  if (options.logY) {
    const top = 10 ** Math.max(1, Math.ceil(Math.log10(Math.max(yRaw, 1))));
    yTicks = [];
    for (let v = 1; v <= top; v *= 10) yTicks.push(v);
    const logTop = Math.log10(top);
    yOf = (y) => margin.top + plotH - (Math.log10(Math.max(1, y)) / logTop) * plotH;
  } else {
    yTicks = niceTicks(yRaw);
    const yTop = yTicks[yTicks.length - 1]!;
    yOf = (y) => margin.top + plotH - (y / yTop) * plotH;
  }
  const xOf = (x: number) => margin.left + (x / xTop) * plotW;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${margin.left}" y="22" font-size="14" font-weight="bold">${escapeXml(options.title)}</text>`);
  for (const tick of yTicks) {
    const y = fixed(yOf(tick));
    out.push(
      `<line x1="${margin.left}" y1="${y}" x2="${margin.left + plotW}" y2="${y}" stroke="#e0e0e0"/>`,
      `<text x="${margin.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${label(tick)}</text>`,
    );
  }
  for (const tick of xTicks) {
    const x = fixed(xOf(tick));
    out.push(
      `<line x1="${x}" y1="${margin.top + plotH}" x2="${x}" y2="${margin.top + plotH + 4}" stroke="#444444"/>`,
      `<text x="${x}" y="${margin.top + plotH + 18}" text-anchor="middle">${label(tick)}</text>`,
    );
  }
  out.push(
    `<line x1="${margin.left}" y1="${margin.top + plotH}" x2="${margin.left + plotW}" y2="${margin.top + plotH}" stroke="#444444"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${margin.top + plotH}" stroke="#444444"/>`,
    `<text x="${margin.left + plotW / 2}" y="${height - 10}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    `<text x="16" y="${margin.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${margin.top + plotH / 2})">${escapeXml(options.yLabel + (options.logY ? " (log scale)" : ""))}</text>`,
  );
  options.series.forEach((series, index) => {
    const colour = COLOURS[index % COLOURS.length]!;
    if (series.points.length > 0) {
      const points = series.points.map(([x, y]) => `${fixed(xOf(x))},${fixed(yOf(y))}`).join(" ");
      out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points}"/>`);
    }
    const ly = margin.top + 10 + index * 18;
    const lx = margin.left + plotW + 16;
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 18}" y2="${ly}" stroke="${colour}" stroke-width="3"/>`,
      `<text x="${lx + 24}" y="${ly}" dominant-baseline="middle">${escapeXml(series.name)}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
