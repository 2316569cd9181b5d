import { instanceLimits, maxPods, UnknownInstanceTypeError } from '../../providers/capacity.js';
import { instanceTypes } from '../../providers/instance-types.generated.js';

describe('instance-type capacity table', () => {
  test('holds the limits EC2 publishes for common types', () => {
    expect(instanceLimits('m5.large')).toEqual({
      instanceType: 'm5.large',
      maxInterfaces: 3,
      ipv4PerInterface: 10,
      hypervisor: 'nitro',
      bareMetal: false,
      vcpus: 2,
    });
    expect(instanceLimits('t2.micro')).toMatchObject({
      maxInterfaces: 2,
      ipv4PerInterface: 2,
      hypervisor: 'xen',
    });
    expect(instanceLimits('m5.metal')).toMatchObject({
      bareMetal: true,
      maxInterfaces: 15,
      ipv4PerInterface: 50,
    });
  });

  test('counts interfaces of the default network card only (p5.48xlarge: 2)', () => {
    expect(instanceLimits('p5.48xlarge').maxInterfaces).toBe(2);
  });

  test('covers the current EC2 fleet', () => {
    expect(Object.keys(instanceTypes).length).toBeGreaterThan(800);
    for (const t of ['c7g.large', 'm7i.xlarge', 'r6i.2xlarge', 'c5n.18xlarge', 't4g.nano']) {
      expect(instanceLimits(t).maxInterfaces).toBeGreaterThanOrEqual(2);
    }
  });

  test('an unknown type is refused with an error naming it', () => {
    expect(() => instanceLimits('m5.huge')).toThrow(UnknownInstanceTypeError);
    expect(() => instanceLimits('m5.huge')).toThrow(/unknown instance type "m5.huge"/);
  });
});

describe('maxPods', () => {
  const sec = { prefixDelegation: false };
  test.each([
    ['m5.large', 29],
    ['t3.medium', 17],
    ['m5.xlarge', 58],
    ['m5.2xlarge', 58],
    ['m5.4xlarge', 234],
    ['m5.24xlarge', 737],
    ['p5.48xlarge', 100],
  ])('secondary-IP mode: %s → %d (eni-max-pods.txt)', (type, pods) => {
    expect(maxPods(instanceLimits(type), sec)).toBe(pods);
  });

  test('prefix mode is capped at 110 for ≤ 30 vCPUs and 250 above', () => {
    const pd = { prefixDelegation: true };
    expect(maxPods(instanceLimits('m5.large'), pd)).toBe(110); // 3 × 9 × 16 + 2 = 434 → 110
    expect(maxPods(instanceLimits('m5.24xlarge'), pd)).toBe(250); // 96 vCPUs
    expect(maxPods(instanceLimits('t3.nano'), pd)).toBe(2 * 1 * 16 + 2); // 34, under the cap
  });

  test('MAX_ENI lowers the interfaces counted', () => {
    expect(maxPods(instanceLimits('m5.large'), { prefixDelegation: false, maxEni: 2 })).toBe(2 * 9 + 2);
    expect(maxPods(instanceLimits('m5.large'), { prefixDelegation: false, maxEni: 10 })).toBe(29);
  });
});
