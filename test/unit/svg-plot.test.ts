// The benchmarks' SVG plots (test/bench/lib/svg-plot.ts): round axis steps, labels as precise as the
// step, and every mode drawn in its own dash pattern so that coinciding lines stay visible.
import { describe, expect, test } from '@jest/globals';
import { axisMax, lineChartSvg, niceStep, tickLabel } from '../bench/lib/svg-plot.js';

describe('axes', () => {
  test.each([
    // data max, step, axis end
    [360, 100, 400],
    [600, 200, 600],
    [8400, 2500, 10_000],
    [1, 0.25, 1],
    [0, 1, 1],
    [47, 20, 60],
  ])('max %f → step %f, axis to %f', (v, step, end) => {
    expect(niceStep(v)).toBe(step);
    expect(axisMax(v)).toBe(end);
  });

  test.each([
    [0.25, 0.25, '0.25'],
    [0.5, 0.25, '0.50'],
    [0.75, 0.25, '0.75'],
    [7000, 250, '7000'],
    [10_000, 2500, '10,000'],
    [200, 100, '200'],
  ])('label of %f at step %f is %s', (v, step, label) => {
    expect(tickLabel(v, step)).toBe(label);
  });
});

describe('lines', () => {
  const svg = lineChartSvg('t', 'seconds', [
    {
      title: 'p',
      yLabel: 'pods',
      series: ['a', 'b', 'c'].map((name) => ({ name, points: [0, 1, 2].map((x) => ({ x, y: 5 })) })),
    },
  ]);
  test('each series has its own dash pattern and width, in the plot and in its legend', () => {
    const paths = [...svg.matchAll(/<path [^>]*>/g)].map((m) => m[0]);
    expect(paths).toHaveLength(3);
    expect(paths[0]).not.toContain('stroke-dasharray');
    expect(paths[1]).toContain('stroke-dasharray="8 4"');
    expect(paths[2]).toContain('stroke-dasharray="2 3"');
    expect(new Set(paths.map((p) => /stroke-width="([\d.]+)"/.exec(p)![1])).size).toBe(3);
    expect(svg.match(/stroke-dasharray="8 4"/g)).toHaveLength(2); // line and legend
  });

  test('a panel that is zero throughout says so', () => {
    const zero = lineChartSvg('t', 's', [
      { title: 'waiting', yLabel: 'pods', series: [{ name: 'a', points: [{ x: 0, y: 0 }] }] },
    ]);
    expect(zero).toContain('waiting (zero throughout, every mode)');
  });

  test('a zoomed panel starts below its data and says where', () => {
    const z = lineChartSvg('t', 's', [
      {
        title: 'held',
        yLabel: 'addresses',
        zoom: true,
        series: [{ name: 'a', points: [7450, 8400, 8220].map((y, x) => ({ x, y })) }],
      },
    ]);
    expect(z).toContain('held (axis from 7000)');
  });
});
