// Generates what deploy/ keeps in step with the chart and the daemon's settings:
// - deploy/chart/tidepool/values.schema.json (Helm validates every install, upgrade, template and lint
//   against it) and deploy/addon/configuration-schema.json (the managed add-on's configuration schema), one
//   schema from two sources: the chart's values.yaml for the shape of every value, and config/settings.ts
//   for the `env` map, a closed set of the daemon's own variable names, each typed by the rule it is parsed
//   with there (an integer's range, a boolean's spellings, an enum's values, a pattern);
// - deploy/manifests/tidepool.yaml, the chart rendered with its defaults (`helm template --include-crds`).
// Usage: node --import tsx scripts/deploy/gen.ts [--check]   (--check: exit 1 naming each stale file)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import prettier from 'prettier';
import ts from 'typescript';
import { parse as parseYaml } from 'yaml';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CHART = join(ROOT, 'deploy/chart/tidepool');
export const SCHEMA_FILES = [
  join(CHART, 'values.schema.json'),
  join(ROOT, 'deploy/addon/configuration-schema.json'),
];
export const MANIFEST_FILE = join(ROOT, 'deploy/manifests/tidepool.yaml');
/** Set by the chart itself from the downward API; a value for it would be ignored, so the schema refuses it. */
export const CHART_OWNED_ENV = ['MY_NODE_NAME'];
export const K8S_BIN = process.env.TIDEPOOL_K8S_BIN ?? '/var/cache/tidepool/k8s/v1.37.2/bin';

type Schema = Record<string, unknown>;

const BOOL_SPELLINGS = ['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'];

/** A pattern matching any of the words in any letter case, with the spaces around them, or nothing (as
 * config/settings.ts trims and lower-cases these values, and treats '' as the default). */
function wordsPattern(words: readonly string[]): string {
  const ci = (w: string) =>
    [...w].map((c) => (/[a-z]/.test(c) ? `[${c}${c.toUpperCase()}]` : c.replace(/[.+-]/g, '\\$&'))).join('');
  return `^\\s*(${words.map(ci).join('|')})?\\s*$`;
}

function literal(node: ts.Expression | undefined): unknown {
  if (!node) return undefined;
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isNumericLiteral(node)) return Number(node.text.replace(/_/g, ''));
  if (ts.isPrefixUnaryExpression(node) && node.operator === ts.SyntaxKind.MinusToken)
    return -(literal(node.operand) as number);
  if (node.kind === ts.SyntaxKind.TrueKeyword) return true;
  if (node.kind === ts.SyntaxKind.FalseKeyword) return false;
  if (ts.isAsExpression(node)) return literal(node.expression);
  if (ts.isArrayLiteralExpression(node)) return node.elements.map((e) => literal(e));
  if (ts.isPropertyAccessExpression(node) && node.getText() === 'Number.MAX_SAFE_INTEGER')
    return Number.MAX_SAFE_INTEGER;
  throw new Error(`config/settings.ts: cannot read ${node.getText()} as a literal`);
}

/** The builder a setting is parsed with: `int(1, 0)`, `str('x').superRefine(...)`, `cidrList`, ... */
function builderOf(node: ts.Expression): { name: string; args: readonly ts.Expression[] } {
  if (ts.isIdentifier(node)) return { name: node.text, args: [] };
  if (ts.isCallExpression(node)) {
    if (ts.isIdentifier(node.expression)) return { name: node.expression.text, args: node.arguments };
    if (ts.isPropertyAccessExpression(node.expression)) return builderOf(node.expression.expression);
  }
  throw new Error(`config/settings.ts: cannot tell how ${node.getText()} is parsed`);
}

/** Reads config/settings.ts' envSchema: each variable's JSON schema, in the source's order. */
export function settingsEnvSchema(source = readFileSync(join(ROOT, 'config/settings.ts'), 'utf8')): Schema {
  const file = ts.createSourceFile('settings.ts', source, ts.ScriptTarget.ES2022, true);
  let shape: ts.ObjectLiteralExpression | undefined;
  const helpers = new Map<string, ts.Expression>();
  file.forEachChild(function visit(n) {
    if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.initializer) {
      helpers.set(n.name.text, n.initializer);
      if (n.name.text === 'envSchema' && ts.isCallExpression(n.initializer)) {
        const arg = n.initializer.arguments[0];
        if (arg && ts.isObjectLiteralExpression(arg)) shape = arg;
      }
    }
    n.forEachChild(visit);
  });
  if (!shape) throw new Error('config/settings.ts: no `const envSchema = z.object({...})` found');
  const props: Record<string, Schema> = {};
  for (const p of shape.properties) {
    if (!ts.isPropertyAssignment(p)) throw new Error(`config/settings.ts: unexpected ${p.getText()}`);
    const name = p.name.getText().replace(/['"]/g, '');
    props[name] = envEntry(name, p.initializer, helpers);
  }
  return props;
}

function envEntry(name: string, init: ts.Expression, helpers: Map<string, ts.Expression>): Schema {
  const { name: builder, args } = builderOf(init);
  const a = args.map((x) => literal(x));
  switch (builder) {
    case 'int': {
      const [def, min, max, what] = a as [number, number, number | undefined, string | undefined];
      const range = max === undefined ? `at least ${min}` : `${min} to ${max}`;
      return {
        type: 'string',
        pattern: min >= 0 ? '^\\s*[0-9]*\\s*$' : '^\\s*-?[0-9]*\\s*$',
        description: `${what ?? 'an integer'}, ${range} (default ${def})`,
      };
    }
    case 'bool':
      return {
        type: 'string',
        pattern: wordsPattern(BOOL_SPELLINGS),
        description: `true or false (default ${a[0]})`,
      };
    case 'oneOf': {
      const [def, values] = a as [string, string[]];
      return {
        type: 'string',
        pattern: wordsPattern(values),
        description: `one of ${values.join(', ')} (default ${def})`,
      };
    }
    case 'str':
      return { type: 'string', description: `a string (default ${JSON.stringify(a[0])})` };
    case 'hostPort':
      return { type: 'string', pattern: '^(.+:[0-9]{1,5})?$', description: `host:port (default ${a[0]})` };
    case 'httpsUrl':
      return { type: 'string', pattern: '^(https://.+)?$', description: `an https URL (default ${a[0]})` };
    case 'cidrList':
      return {
        type: 'string',
        pattern: '^\\s*([0-9./]+(\\s*,\\s*[0-9./]+)*)?\\s*$',
        description: 'a comma-separated list of IPv4 CIDRs',
      };
    case 'tagMap':
      return { type: 'string', description: 'a JSON object of string tags, e.g. {"team":"net"}' };
    case 'vethPrefix':
      return {
        type: 'string',
        pattern: '^([a-zA-Z][a-zA-Z0-9]{0,3})?$',
        description: '1 to 4 letters or digits, starting with a letter (default eni)',
      };
    default: {
      const h = helpers.get(builder);
      if (h && h !== init) return envEntry(name, h, helpers);
      throw new Error(
        `config/settings.ts: ${name} uses ${builder}, which scripts/deploy/gen.ts cannot type yet`,
      );
    }
  }
}

/** The schema of a value, from its default in values.yaml (the shape users may change). */
function shapeOf(v: unknown, path: string): Schema {
  if (typeof v === 'string') return { type: 'string' };
  if (typeof v === 'boolean') return { type: 'boolean' };
  if (typeof v === 'number') return { type: Number.isInteger(v) ? 'integer' : 'number' };
  if (Array.isArray(v)) return { type: 'array' };
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    // An empty map in the defaults (labels, annotations, selectors) is a free map of strings.
    if (entries.length === 0) return { type: 'object', additionalProperties: { type: 'string' } };
    // Free-form maps whose keys are the user's (resources, selectors): typed values, open keys.
    if (['resources', 'nodeSelector'].includes(path)) return { type: 'object' };
    return {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(entries.map(([k, x]) => [k, shapeOf(x, path ? `${path}.${k}` : k)])),
    };
  }
  throw new Error(`values.yaml: ${path} is null; give it a default of its type`);
}

export function valuesSchema(
  valuesYaml = readFileSync(join(CHART, 'values.yaml'), 'utf8'),
  settings = settingsEnvSchema(),
): Schema {
  const values = parseYaml(valuesYaml) as Record<string, unknown>;
  const env = { ...settings };
  for (const k of CHART_OWNED_ENV) delete env[k];
  for (const k of Object.keys((values.env as Record<string, unknown>) ?? {}))
    if (!(k in env))
      throw new Error(`values.yaml: env.${k} is not a setting the daemon reads (config/settings.ts)`);
  const schema = shapeOf(values, '') as { properties: Record<string, Schema> };
  schema.properties.env = {
    type: 'object',
    description:
      "The daemon's settings by the variable names it reads (config/settings.ts); every value a string",
    additionalProperties: false,
    properties: env,
  };
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'Tidepool chart values and managed add-on configuration',
    ...schema,
  };
}

export async function schemaText(): Promise<string> {
  return prettier.format(JSON.stringify(valuesSchema()), { parser: 'json', printWidth: 110 });
}

export function helm(args: string[], opts: { input?: string } = {}) {
  const bin = join(K8S_BIN, 'helm');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run scripts/setup.sh (scripts/k8s/build.sh)`);
  const home = join(ROOT, '.cache/helm-home');
  mkdirSync(home, { recursive: true });
  return spawnSync(bin, args, {
    encoding: 'utf8',
    input: opts.input,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      XDG_CACHE_HOME: join(home, 'cache'),
      XDG_CONFIG_HOME: join(home, 'config'),
      XDG_DATA_HOME: join(home, 'data'),
    },
  });
}

export function manifestText(): string {
  const r = helm([
    'template',
    'tidepool',
    CHART,
    '--namespace',
    'kube-system',
    '--include-crds',
    '--kube-version',
    '1.37.2',
  ]);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return (
    '# Rendered from deploy/chart/tidepool with its default values (scripts/deploy/gen.ts; do not edit):\n' +
    '#   helm template tidepool deploy/chart/tidepool --namespace kube-system --include-crds --kube-version 1.37.2\n' +
    r.stdout
  );
}

async function main() {
  const check = process.argv.includes('--check');
  const schema = await schemaText();
  const outputs: [string, string][] = SCHEMA_FILES.map((f) => [f, schema]);
  // The manifests are rendered by helm, which validates the values against the schema: write it first.
  if (!check)
    for (const [f, text] of outputs) {
      mkdirSync(dirname(f), { recursive: true });
      writeFileSync(f, text);
    }
  outputs.push([MANIFEST_FILE, manifestText()]);
  const stale: string[] = [];
  for (const [f, text] of outputs) {
    const old = existsSync(f) ? readFileSync(f, 'utf8') : '';
    if (old !== text) stale.push(f);
    if (!check) {
      mkdirSync(dirname(f), { recursive: true });
      writeFileSync(f, text);
    }
  }
  if (check && stale.length) {
    console.error(`stale (run npm run deploy:gen): ${stale.map((f) => f.slice(ROOT.length + 1)).join(', ')}`);
    process.exit(1);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
