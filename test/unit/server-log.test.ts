import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../ipamd/log.js';

describe('daemon logs', () => {
  test('JSON lines to a file (its directory created), at the configured level and above', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edges-log-'));
    try {
      const file = join(dir, 'sub', 'ipamd.log');
      const log = createLogger({ logLevel: 'warn', logFile: file });
      log.info('not written');
      log.warn({ address: '10.0.0.5' }, 'pool low');
      log.child({ component: 'core' }).error('store failed');
      const lines = readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines).toEqual([
        expect.objectContaining({
          level: 'warn',
          msg: 'pool low',
          address: '10.0.0.5',
          name: 'tidepool-ipamd',
        }),
        expect.objectContaining({ level: 'error', msg: 'store failed', component: 'core' }),
      ]);
      expect(lines[0].time).toMatch(/^\d{4}-\d\d-\d\dT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
