// esbuild options of the plugin executable (used by scripts/build.mjs). The plugin is exec'd once per pod,
// so its start-up is its cost:
// - one minified file with no import/require statement: Node built-ins are reached through
//   process.getBuiltinModule (Node >= 20.16), so the file runs as a CommonJS script where the runtime
//   installs it (/opt/cni/bin: no package.json; CommonJS loads ~10 ms faster than ESM) and as an ES module
//   in dist/bin (this package is "type": "module"). A dynamic import() of a built-in stays lazy.
// - a V8 code cache: the bundle is embedded as a string and compiled with vm.Script; the first ADD leaves
//   the compiled code in /run/tidepool/plugin-<hash>.v8cache (tmpfs, gone at reboot) and later runs skip
//   compiling (~7 ms of CPU per ADD). V8 checks the cache against the source, its version and flags, and
//   compiles afresh when it does not match; a missing or unwritable cache only costs that time.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

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

/** Where scripts/build.mjs leaves the rtnetlink addon (cni/native/netlink.c), when it could build it. */
export const NETLINK_ADDON = 'dist/native/netlink.node';

// The rtnetlink addon travels inside the plugin (the runtime installs one file) and is written to
// /run/tidepool on first use, under a name made of its hash. It is loaded only from a directory, and a
// file, that no one but the plugin's user (root) can write to.
const netlinkFile = (addon) =>
  `netlink-${createHash('sha256').update(addon).digest('hex').slice(0, 16)}.node`;

function netlinkLoader(addon) {
  if (!addon) return '';
  const path = `/run/tidepool/${netlinkFile(addon)}`;
  return `
  globalThis.__tidepoolNetlink = () => {
    try {
      const NL = ${JSON.stringify(path)}, uid = process.getuid();
      const safe = (st) => st.uid === uid && !(st.mode & 0o022);
      fs.mkdirSync("/run/tidepool", { recursive: true, mode: 0o700 });
      if (!safe(fs.statSync("/run/tidepool"))) return null;
      let st = null;
      try { st = fs.statSync(NL); } catch {}
      // Its name is the hash of its content, and only this user can write here: a file of that name, owned
      // by this user and writable by no one else, is the addon carried.
      if (st && safe(st) && st.size === ${addon.length}) return NL;
      const tmp = NL + "." + process.pid;
      fs.writeFileSync(tmp, Buffer.from(${JSON.stringify(addon.toString('base64'))}, "base64"), { mode: 0o500 });
      fs.renameSync(tmp, NL);
      return NL;
    } catch { return null; }
  };`;
}

function loader(source, addon) {
  const cache = `/run/tidepool/plugin-${createHash('sha256').update(source).digest('hex').slice(0, 16)}.v8cache`;
  const keep = addon ? [netlinkFile(addon)] : [];
  return `#!/usr/bin/env node
"use strict";
(() => {
  const fs = process.getBuiltinModule("fs"), vm = process.getBuiltinModule("vm");
  const CACHE = ${JSON.stringify(cache)};${netlinkLoader(addon)}
  let data;
  try { data = fs.readFileSync(CACHE); } catch {}
  const script = new vm.Script(${JSON.stringify(source)}, { filename: "tidepool", cachedData: data });
  // Written after an ADD, the command that compiles the most code, when there was no usable cache.
  if ((!data || script.cachedDataRejected) && process.env.CNI_COMMAND === "ADD")
    process.once("exit", () => {
      try {
        const tmp = CACHE + "." + process.pid;
        fs.mkdirSync("/run/tidepool", { recursive: true, mode: 0o700 });
        fs.writeFileSync(tmp, script.createCachedData());
        fs.renameSync(tmp, CACHE);
        // Caches and addons of earlier plugin builds are of no use any more.
        for (const f of fs.readdirSync("/run/tidepool"))
          if (/^(plugin-[0-9a-f]{16}\.v8cache|netlink-[0-9a-f]{16}\.node)$/.test(f) && !${JSON.stringify(keep)}.includes(f) && "/run/tidepool/" + f !== CACHE)
            fs.rmSync("/run/tidepool/" + f, { force: true });
      } catch {}
    });
  script.runInThisContext();
})();
`;
}

const codeCache = {
  name: 'v8-code-cache-loader',
  setup(build) {
    build.onEnd((result) => {
      const addon = existsSync(NETLINK_ADDON) ? readFileSync(NETLINK_ADDON) : null;
      for (const f of result.outputFiles ?? []) writeFileSync(f.path, loader(f.text, addon), { mode: 0o755 });
    });
  },
};

export const pluginBuildOptions = {
  format: 'iife',
  minify: true,
  legalComments: 'none',
  plugins: [builtins, codeCache],
  banner: { js: '' },
  write: false,
};
