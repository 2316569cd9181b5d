// esbuild options of the plugin executable (used by scripts/build.mjs). The plugin is exec'd once per pod,
// so its start-up is its cost: one minified file, no import/require statement in it. Node built-ins are
// reached through process.getBuiltinModule (Node >= 20.16), so the same file runs as a CommonJS script
// where the runtime installs it (/opt/cni/bin: no package.json; CommonJS loads ~10 ms faster than ESM)
// and as an ES module in dist/bin (this package is "type": "module"). A dynamic import() of a built-in
// stays lazy: http2 and net are loaded only by the commands that call the daemon.
const builtins = {
  name: 'builtins-via-getBuiltinModule',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'builtin' }));
    build.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
      contents: `module.exports = process.getBuiltinModule(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

export const pluginBuildOptions = {
  format: 'iife',
  minify: true,
  legalComments: 'none',
  plugins: [builtins],
  banner: { js: '#!/usr/bin/env node' },
};
