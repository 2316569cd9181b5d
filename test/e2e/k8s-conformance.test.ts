// Kubernetes' own networking conformance checks pass on Tidepool: `npm run conformance`'s run
// (test/conformance/run.ts) on the cluster lab, asserted here. The focus `[sig-network] Networking Granular
// Checks: Pods` minus SCTP selects exactly 4 specs of v1.37.2's e2e.test, all [Conformance]: pod-to-pod
// (intra-pod) and node-to-pod, each over HTTP and UDP; each puts a netserver pod on every node and dials
// all of them, so same-node and cross-node paths are both checked. Every one must pass, none may fail, the
// JUnit report must say the same, and the lab must be gone afterwards. About 3 min (lab up about 40-100 s,
// e2e about 65 s).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runConformance } from '../conformance/run.js';
import { namespacesWithPrefix } from '../helpers/lab.js';

const EXPECTED = [
  'should function for intra-pod communication: http',
  'should function for intra-pod communication: udp',
  'should function for node-pod communication: http',
  'should function for node-pod communication: udp',
];

describe('the Kubernetes e2e networking checks (Granular Checks: Pods) on the cluster lab', () => {
  const prefix = `tc-cf${randomBytes(2).toString('hex')}-`;
  const reportDir = mkdtempSync(join(tmpdir(), 'tc-conformance-'));
  afterAll(() => rmSync(reportDir, { recursive: true, force: true }));

  it('passes all 4 specs, fails none, writes the JUnit report and leaves no namespace behind', async () => {
    const r = await runConformance({
      prefix,
      reportDir,
      log: (m) => process.stderr.write(`conformance: ${m}\n`),
    });
    process.stderr.write(
      `conformance: passed ${r.passed} failed ${r.failed}; ${Object.entries(r.timings)
        .map(([k, v]) => `${k} ${v} s`)
        .join(', ')}\n`,
    );
    expect(r.specs.filter((s) => s.state !== 'passed')).toEqual([]);
    expect(r.failed).toBe(0);
    expect(r.passed).toBe(EXPECTED.length);
    expect(r.specs.map((s) => EXPECTED.find((e) => s.name.includes(e))).sort()).toEqual(EXPECTED);
    for (const s of r.specs)
      expect(s.name).toMatch(/^\[sig-network\] Networking Granular Checks: Pods .*\[Conformance\]/);
    expect(r.exitCode).toBe(0);
    // The JUnit report e2e.test wrote agrees: 4 test cases passed, no failure element.
    const junit = readFileSync(r.junit, 'utf8');
    expect(junit).not.toMatch(/<failure/);
    expect(
      (junit.match(/<testcase [^>]*status="passed"[^>]*>/g) ?? []).filter((t) =>
        t.includes('Granular Checks: Pods'),
      ),
    ).toHaveLength(EXPECTED.length);
    expect(namespacesWithPrefix(prefix)).toEqual([]);
  }, 1_200_000);
});
