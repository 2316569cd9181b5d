// Virtual-time tests of the reconciler and core against the in-process sim cloud.
import { afterEach, describe, expect, test } from '@jest/globals';
import { key, makeNode, pod, settle, simCalls, type TestNode } from './core.harness.js';

let node: TestNode | undefined;
afterEach(async () => {
  await node?.cleanup();
  node = undefined;
});

describe('growth', () => {
  test('WARM_ENI_TARGET=1 on m5.large: the primary is filled with 9, then an ENI of 9 once pods use it', async () => {
    node = makeNode();
    const { clock, cloud, core } = node;
    await settle(clock, core.start());
    await clock.advance(6_000);
    expect(core.status()).toMatchObject({ ready: true, total: 9, free: 9, interfaces: 1 });
    expect(simCalls(cloud, 'AssignPrivateIpAddresses')).toHaveLength(1);

    for (let i = 0; i < 5; i++) await core.allocate(key(`c${i}`), pod(`p${i}`));
    await clock.advance(6_000);
    // available 4 < 9 and the primary is full → one ENI with 9 addresses.
    expect(core.status()).toMatchObject({ total: 18, assigned: 5, free: 13, interfaces: 2 });
    expect(simCalls(cloud, 'AttachNetworkInterface')).toHaveLength(1);
    const listed = await settle(clock, node.provider.listInterfaces());
    expect(listed.flatMap((i) => i.addresses).sort()).toEqual(
      core
        .snapshot()
        .interfaces.flatMap((i) => i.addresses.map((a) => a.address))
        .sort(),
    );
  });
});
