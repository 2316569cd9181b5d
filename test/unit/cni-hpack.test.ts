// HPACK of the plugin's HTTP/2 client, against the examples of RFC 7541 Appendix C (checked also with an
// independent decoder, Python's hpack): Huffman strings, the dynamic table shared across header blocks,
// table entries referenced by later blocks.
import { HpackDecoder, HpackError, hpackEncode, huffmanDecode } from '../../cni/http2/hpack.js';

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');

describe('HPACK', () => {
  it('decodes the Huffman-coded requests of RFC 7541 C.4, with the dynamic table across blocks', () => {
    const d = new HpackDecoder();
    expect(d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'))).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ]);
    expect(d.decode(hex('8286 84be 5886 a8eb 1064 9cbf'))).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ]);
    expect(d.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'))).toEqual([
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ]);
  });

  it('decodes the Huffman-coded response of RFC 7541 C.6.1', () => {
    const block = hex(
      '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
    );
    expect(new HpackDecoder().decode(block)).toEqual([
      [':status', '302'],
      ['cache-control', 'private'],
      ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['location', 'https://www.example.com'],
    ]);
  });

  it('refuses bad Huffman padding and the EOS symbol', () => {
    expect(huffmanDecode(Buffer.from([0x07]))).toBe('0'); // 00000 + 111 padding
    expect(() => huffmanDecode(Buffer.from([0x00]))).toThrow(HpackError);
    expect(() => huffmanDecode(Buffer.from([0x07, 0xff]))).toThrow(HpackError);
    expect(() => huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff]))).toThrow(HpackError);
  });

  it('refuses a reference to a table entry that does not exist', () => {
    expect(() => new HpackDecoder().decode(hex('be'))).toThrow(/no table entry 62/);
  });

  it('encodes requests that it decodes back, using static indexes where they match', () => {
    const headers: [string, string][] = [
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', '/tidepool.v1.Ipam/Allocate'],
      [':authority', 'localhost'],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
      ['grpc-timeout', '120000m'],
    ];
    const block = hpackEncode(headers);
    expect(block.subarray(0, 2)).toEqual(Buffer.from([0x83, 0x86])); // :method POST, :scheme http
    expect(new HpackDecoder().decode(block)).toEqual(headers);
  });
});
