// Bundles the executables into dist/bin. The CNI plugin is fully bundled and minified (it is exec'd once
// per pod, so start-up cost matters) and made a self-contained executable (cni/build-options.mjs); the
// daemon and CLI keep node_modules external (native better-sqlite3).
import * as esbuild from 'esbuild';
import { chmod, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { rmSync } from 'node:fs';
import { buildPlugin, NETLINK_ADDON } from '../cni/build-options.mjs';

const { build } = esbuild;

const banner = { js: '#!/usr/bin/env node' };
const common = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  banner,
  logLevel: 'warning',
};

const targets = [
  // The daemon caps V8's young generation at 4 MiB semi-spaces: under a burst of calls the default (16 MiB)
  // grows its resident memory by about 40 MiB for no gain in latency (test/bench/daemon.bench.ts). Its
  // dependencies are bundled (all but native better-sqlite3, and the gRPC project's health and reflection
  // services, which read their .proto files from their own package at run time, with the grpc-js and
  // proto-loader they share): loading zod and pino file by file was most of its start-up time, and a
  // restart after a crash is time without pod networking.
  {
    entry: 'ipamd/main.ts',
    out: 'dist/bin/tidepool-ipamd',
    external: [
      'better-sqlite3',
      'grpc-health-check',
      '@grpc/reflection',
      '@grpc/grpc-js',
      '@grpc/proto-loader',
    ],
    banner: {
      js:
        '#!/usr/bin/env -S node --max-semi-space-size=4\n' +
        "import { createRequire as __tidepoolRequire } from 'node:module';\n" +
        'const require = __tidepoolRequire(import.meta.url);',
    },
  },
  { entry: 'ctl/main.ts', out: 'dist/bin/tidepoolctl', external: true },
  { entry: 'providers/sim/server-main.ts', out: 'dist/bin/tidepool-sim', external: true },
  // The ARM and IMDS doubles the lab's Azure mode runs (lab/azure-cloud.ts).
  { entry: 'providers/azure/double/main.ts', out: 'dist/bin/tidepool-azure-double', external: true },
  // The AWS provider apart from the daemon: the daemon imports it only with TIDEPOOL_PROVIDER=aws, so a
  // sim node never loads the AWS SDK (about 1 s and 90 MiB at start-up). See ipamd/cloud/providers.ts.
  { entry: 'providers/aws/index.ts', out: 'dist/lib/provider-aws.js', external: true },
  // The Azure provider likewise (TIDEPOOL_PROVIDER=azure only): no other node loads the Azure SDK.
  { entry: 'providers/azure/index.ts', out: 'dist/lib/provider-azure.js', external: true },
  // The Kubernetes integration apart too: only a daemon with TIDEPOOL_KUBERNETES loads client-node
  // (ipamd/kube/load.ts).
  { entry: 'ipamd/kube/index.ts', out: 'dist/lib/kube.js', external: true },
];

await mkdir('dist/bin', { recursive: true });
await mkdir('dist/lib', { recursive: true });

// The plugin's rtnetlink addon (cni/native/netlink.c): a Node-API library built with the C compiler and the
// headers of the Node that builds (node_api.h). Without them the plugin is built without it and runs `ip`.
{
  await mkdir(dirname(NETLINK_ADDON), { recursive: true });
  rmSync(NETLINK_ADDON, { force: true });
  const include = join(dirname(dirname(process.execPath)), 'include', 'node');
  if (existsSync(join(include, 'node_api.h'))) {
    const cc = spawnSync(
      'gcc',
      [
        '-O2',
        '-s',
        '-shared',
        '-fPIC',
        '-Wall',
        '-Werror',
        `-I${include}`,
        'cni/native/netlink.c',
        '-o',
        NETLINK_ADDON,
      ],
      { encoding: 'utf8' },
    );
    if (cc.status !== 0)
      console.warn(
        `build: the plugin's netlink addon was not built (plugin uses ip): ${cc.stderr || cc.error}`,
      );
  } else
    console.warn(
      `build: no ${include}/node_api.h: the plugin is built without its netlink addon (it uses ip)`,
    );
}
for (const t of targets) {
  if (!existsSync(t.entry)) throw new Error(`build: entry point ${t.entry} is missing`);
  await build({
    ...common,
    entryPoints: [t.entry],
    outfile: t.out,
    ...(t.banner ? { banner: t.banner } : {}),
    ...(Array.isArray(t.external) ? { external: t.external } : { packages: 'external' }),
  });
  await chmod(t.out, 0o755);
}
await buildPlugin(esbuild);
