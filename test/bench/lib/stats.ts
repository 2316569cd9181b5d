// Small statistics for benchmark figures.

/** The q-quantile (0..1) of `values` by nearest rank; NaN for an empty list. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

export function median(values: number[]): number {
  return quantile(values, 0.5);
}

export function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Prints one benchmark figure in the form every benchmark uses: `BENCH <name> <value> <unit>`. */
export function bench(name: string, value: number, unit: string, digits = 3): void {
  const v = Number.isFinite(value) ? Number(value.toFixed(digits)) : value;
  console.log(`BENCH ${name} ${v} ${unit}`);
}
