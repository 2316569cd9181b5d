// The architecture's arrows (ARCHITECTURE section 1), checked on the real import graph of every source file
// (read with TypeScript's own pre-processor, type-only imports included: a circle of types is still a circle
// a reader must untangle): no import circle anywhere; cni → proto only; ipamd → providers, config, proto;
// providers → config; nothing imports ipamd but its entry point, the tests and the tools above it; and
// production code imports nothing from test/.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const ROOT = process.cwd();
const SOURCE_DIRS = [
  'cni',
  'config',
  'ctl',
  'demo',
  'ipamd',
  'lab',
  'localstack',
  'proto',
  'providers',
  'test',
];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const rel = join(dir, name);
    if (name === 'node_modules' || name === '.venv' || name === 'generated') continue;
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...sources(rel));
    else if (/\.(ts|mts)$/.test(name) && !name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** file → the project files it imports (relative specifiers only; packages are not part of the layering). */
function graph(): Map<string, string[]> {
  const files = SOURCE_DIRS.flatMap(sources);
  const known = new Set(files);
  const g = new Map<string, string[]>();
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(join(ROOT, file), 'utf8'), true, true);
    const deps: string[] = [];
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith('.')) continue;
      const abs = resolve(ROOT, dirname(file), ref.fileName);
      const candidates = [abs.replace(/\.js$/, '.ts'), abs.replace(/\.mjs$/, '.mts'), abs, `${abs}.ts`];
      const hit = candidates.map((c) => relative(ROOT, c)).find((c) => known.has(c));
      if (hit) deps.push(hit);
    }
    g.set(file, deps);
  }
  return g;
}

/** Every strongly connected component of more than one file, or a file importing itself (Tarjan). */
function circles(g: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  return out;
}

const top = (file: string) => file.split('/')[0];

/** What each top-level folder may import (besides itself). */
const ALLOWED: Record<string, string[]> = {
  proto: [],
  config: [],
  cni: ['proto'],
  providers: ['config'],
  ipamd: ['providers', 'config', 'proto'],
  localstack: ['providers', 'config'],
  // The tools on top may use everything below them (but the daemon, which only its entry point loads).
  ctl: ['config', 'proto', 'providers', 'localstack', 'cni', 'lab', 'demo'],
  lab: ['config', 'proto', 'providers', 'localstack', 'cni'],
  demo: ['config', 'proto', 'providers', 'localstack', 'cni', 'lab'],
};

describe('layout', () => {
  const g = graph();

  test('the graph was read (a broken reader must not pass by finding nothing)', () => {
    expect(g.size).toBeGreaterThan(150);
    expect(g.get('ipamd/daemon.ts')).toEqual(expect.arrayContaining(['ipamd/core/core.ts']));
  });

  test('no import circle', () => {
    expect(circles(g)).toEqual([]);
  });

  test('arrows point one way: each folder imports only what the architecture allows', () => {
    const wrong: string[] = [];
    for (const [file, deps] of g) {
      const from = top(file);
      if (from === 'test') continue;
      for (const dep of deps) {
        const to = top(dep);
        if (to === from) continue;
        if (to === 'test') wrong.push(`${file} → ${dep} (production code must not import test code)`);
        else if (!(ALLOWED[from] ?? []).includes(to)) wrong.push(`${file} → ${dep}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test('the cycle finder finds a planted circle', () => {
    const planted = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    expect(circles(planted)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });
});
