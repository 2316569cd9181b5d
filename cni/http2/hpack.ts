// HPACK (RFC 7541) for both ends of our HTTP/2, the plugin's client and the daemon's server: a complete
// decoder (static and dynamic table, Huffman strings, table size updates), because a peer's encoder may use
// all of it, and the smallest encoder (indexed static entries and literals without indexing), which never
// touches the peer's dynamic table.

/** RFC 7541 Appendix A. */
const STATIC: [string, string][] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

// RFC 7541 Appendix B is a canonical Huffman code: the code lengths of symbols 0..256 (EOS) define it.
// One character per symbol: 'A' = 5 bits … 'Z' = 30 bits.
const LENGTHS =
  'ISXXXXXXXTZXXZXXXXXXXXZXXXXXXXXXBFFHIBDGFFDGDBBBAAABBBBBBBCDKBHFIBCCCCCCCCCCCCCCCCCCCCCCDCDIOIJBKABABABBBACCBBBABCBAABCCCCCKGJIXPRPPRRRSRSSSSSTSTTRSTSSSSQRSRSSTRQPRRSSQSRRTQRSSQQRQSRSSPRRRSRRSVVPORSRUVVVWWVTUOQVWWVWTQQVVXWWWPTPQRQQSRRUUTTVSVWVVWWWWWXWWWWWVZ';

export class HpackError extends Error {}

interface Canonical {
  sorted: number[];
  first: number[];
  offset: number[];
  count: number[];
}
let canonical: Canonical | null = null;

/** first code, count and position in `sorted` of each code length (built on first Huffman string). */
function huffmanTables(): Canonical {
  if (canonical) return canonical;
  const len = [...LENGTHS].map((c) => c.charCodeAt(0) - 60);
  const sorted = len.map((_, s) => s).sort((a, b) => len[a] - len[b] || a - b);
  const count = new Array(31).fill(0);
  for (const l of len) count[l]++;
  const first = new Array(31).fill(0);
  const offset = new Array(31).fill(0);
  let code = 0;
  let index = 0;
  for (let l = 1; l <= 30; l++) {
    first[l] = code;
    offset[l] = index;
    code = (code + count[l]) * 2;
    index += count[l];
  }
  canonical = { sorted, first, offset, count };
  return canonical;
}

export function huffmanDecode(buf: Uint8Array): string {
  const t = huffmanTables();
  const out: number[] = [];
  let code = 0;
  let bits = 0;
  for (const byte of buf) {
    for (let shift = 7; shift >= 0; shift--) {
      code = code * 2 + ((byte >> shift) & 1);
      bits++;
      if (bits > 30) throw new HpackError('Huffman code longer than 30 bits');
      const i = code - t.first[bits];
      if (t.count[bits] > 0 && i >= 0 && i < t.count[bits]) {
        const symbol = t.sorted[t.offset[bits] + i];
        if (symbol === 256) throw new HpackError('EOS inside a Huffman string');
        out.push(symbol);
        code = 0;
        bits = 0;
      }
    }
  }
  // Padding: at most 7 bits, all ones (the EOS prefix).
  if (bits > 7 || code !== 2 ** bits - 1) throw new HpackError('bad Huffman padding');
  return Buffer.from(out).toString('latin1');
}

export class HpackDecoder {
  private dynamic: [string, string][] = [];
  private size = 0;
  private maxSize = 4096;

  decode(block: Uint8Array): [string, string][] {
    const headers: [string, string][] = [];
    let pos = 0;
    const integer = (prefixBits: number): number => {
      const mask = (1 << prefixBits) - 1;
      let value = block[pos++] & mask;
      if (value < mask) return value;
      for (let m = 0; ; m += 7) {
        if (pos >= block.length || m > 28) throw new HpackError('bad integer');
        const b = block[pos++];
        value += (b & 0x7f) * 2 ** m;
        if ((b & 0x80) === 0) return value;
      }
    };
    const string = (): string => {
      if (pos >= block.length) throw new HpackError('truncated string');
      const huffman = (block[pos] & 0x80) !== 0;
      const len = integer(7);
      if (pos + len > block.length) throw new HpackError('truncated string');
      const raw = block.subarray(pos, pos + len);
      pos += len;
      return huffman ? huffmanDecode(raw) : Buffer.from(raw).toString('latin1');
    };
    const entry = (index: number): [string, string] => {
      if (index >= 1 && index <= STATIC.length) return STATIC[index - 1];
      const d = this.dynamic[index - STATIC.length - 1];
      if (!d) throw new HpackError(`no table entry ${index}`);
      return d;
    };
    while (pos < block.length) {
      const b = block[pos];
      if (b & 0x80) headers.push(entry(integer(7)));
      else if ((b & 0xc0) === 0x40) {
        const index = integer(6);
        const name = index === 0 ? string() : entry(index)[0];
        const header: [string, string] = [name, string()];
        headers.push(header);
        this.insert(header);
      } else if ((b & 0xe0) === 0x20) {
        this.maxSize = integer(5);
        this.evict(0);
      } else {
        const index = integer(4); // without indexing (0000) or never indexed (0001)
        const name = index === 0 ? string() : entry(index)[0];
        headers.push([name, string()]);
      }
    }
    return headers;
  }

  private insert(h: [string, string]): void {
    const size = h[0].length + h[1].length + 32;
    this.evict(size);
    if (size <= this.maxSize) {
      this.dynamic.unshift(h);
      this.size += size;
    }
  }

  private evict(room: number): void {
    while (this.dynamic.length > 0 && this.size + room > this.maxSize) {
      const [n, v] = this.dynamic.pop()!;
      this.size -= n.length + v.length + 32;
    }
  }
}

function pushInteger(out: number[], value: number, prefixBits: number, firstByte: number): void {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out.push(firstByte | value);
    return;
  }
  out.push(firstByte | mask);
  value -= mask;
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

function pushString(out: number[], s: string): void {
  const bytes = Buffer.from(s, 'latin1');
  pushInteger(out, bytes.length, 7, 0);
  for (const b of bytes) out.push(b);
}

/** Encodes headers: a full static match as an index, a static name with a literal value, else literals. */
export function hpackEncode(headers: [string, string][]): Buffer {
  const out: number[] = [];
  for (const [name, value] of headers) {
    const full = STATIC.findIndex(([n, v]) => n === name && v === value);
    if (full >= 0) {
      pushInteger(out, full + 1, 7, 0x80);
      continue;
    }
    const byName = STATIC.findIndex(([n]) => n === name);
    if (byName >= 0) pushInteger(out, byName + 1, 4, 0x00);
    else {
      out.push(0x00);
      pushString(out, name);
    }
    pushString(out, value);
  }
  return Buffer.from(out);
}
