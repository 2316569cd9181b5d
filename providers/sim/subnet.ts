// Address bookkeeping of one subnet: which addresses and /28 blocks are taken. AWS reserves the first
// four addresses and the last one of every subnet (VPC user guide, "Subnet CIDR blocks"); they are never
// handed out. Addresses are unique subnet-wide. Free addresses are picked at random (seeded), as EC2
// does, so /28 blocks fragment the way they do in a real subnet and InsufficientCidrBlocks can happen
// while single addresses are still free.

import { intToIp, ipToInt, parseCidr } from '../../config/net.js';
import type { SeededRandom } from './random.js';

const PREFIX = 16;

export class SubnetPool {
  readonly base: number;
  readonly size: number;
  private readonly used = new Set<number>();

  constructor(readonly cidr: string) {
    const c = parseCidr(cidr);
    this.base = c.base;
    this.size = c.size;
  }

  /** Addresses a subnet can ever give (size − 5 reserved). */
  get usable(): number {
    return Math.max(0, this.size - 5);
  }

  get free(): number {
    return this.usable - this.used.size;
  }

  private reserved(off: number): boolean {
    return off < 4 || off === this.size - 1;
  }

  contains(ip: string): boolean {
    const n = ipToInt(ip);
    return n >= this.base && n < this.base + this.size;
  }

  /** Marks an address taken (restoring state); false if it was taken or reserved already. */
  take(ip: string): boolean {
    const off = ipToInt(ip) - this.base;
    if (off < 0 || off >= this.size || this.reserved(off) || this.used.has(off)) return false;
    this.used.add(off);
    return true;
  }

  takePrefix(cidr: string): boolean {
    const off = ipToInt(cidr.split('/')[0]) - this.base;
    if (!this.blockFree(off)) return false;
    for (let i = 0; i < PREFIX; i++) this.used.add(off + i);
    return true;
  }

  /** `n` random free addresses, or undefined (and nothing taken) when fewer are free. */
  allocate(n: number, rng: SeededRandom): string[] | undefined {
    if (n > this.free) return undefined;
    const out: string[] = [];
    for (let k = 0; k < n; k++) {
      let off = 4 + rng.int(this.size - 5);
      while (this.used.has(off)) off = off + 1 >= this.size - 1 ? 4 : off + 1;
      this.used.add(off);
      out.push(intToIp(this.base + off));
    }
    return out;
  }

  /** `n` free aligned /28 blocks, or undefined (and nothing taken) when fewer exist. */
  allocatePrefixes(n: number, rng: SeededRandom): string[] | undefined {
    const blocks = Math.floor(this.size / PREFIX);
    if (blocks === 0) return undefined;
    const found: number[] = [];
    const start = rng.int(blocks);
    for (let i = 0; i < blocks && found.length < n; i++) {
      const off = ((start + i) % blocks) * PREFIX;
      if (this.blockFree(off)) found.push(off);
    }
    if (found.length < n) return undefined;
    return found.map((off) => {
      for (let i = 0; i < PREFIX; i++) this.used.add(off + i);
      return `${intToIp(this.base + off)}/28`;
    });
  }

  release(ip: string): void {
    this.used.delete(ipToInt(ip) - this.base);
  }

  releasePrefix(cidr: string): void {
    const off = ipToInt(cidr.split('/')[0]) - this.base;
    for (let i = 0; i < PREFIX; i++) this.used.delete(off + i);
  }

  private blockFree(off: number): boolean {
    if (off < 0 || off % PREFIX !== 0 || off + PREFIX > this.size) return false;
    for (let i = 0; i < PREFIX; i++) if (this.reserved(off + i) || this.used.has(off + i)) return false;
    return true;
  }
}
