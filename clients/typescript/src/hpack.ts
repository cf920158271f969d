// HPACK (RFC 7541) for h2.ts: a full decoder of the server's header blocks (static and dynamic
// table, Huffman strings) and the one representation the client encodes with, literal fields
// without indexing, so that no encoder table needs keeping in step with the server's.

/** RFC 7541 Appendix A. */
const STATIC: readonly (readonly [string, string])[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

/** Each static name's first index. */
const STATIC_NAMES = new Map<string, number>();
STATIC.forEach(([name], i) => {
  if (!STATIC_NAMES.has(name)) STATIC_NAMES.set(name, i + 1);
});

/**
 * The Huffman code of RFC 7541 Appendix B as its code lengths, symbols 0 to 255 and EOS (256). The
 * code is canonical (the codes of one length are consecutive, in symbol order, each length's first
 * code following the previous length's last), so the lengths alone define it.
 */
const HUFFMAN_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10,
  12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7,
  7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22,
  23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22,
  23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20,
  24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];
const EOS = 256;
const MAX_CODE_LENGTH = 30;

/** Canonical decoding: how many codes each length has, and the symbols by (length, symbol). */
const CODES_OF_LENGTH = new Int32Array(MAX_CODE_LENGTH + 1);
const SYMBOLS: number[] = [];
for (let length = 1; length <= MAX_CODE_LENGTH; length++) {
  HUFFMAN_LENGTHS.forEach((l, symbol) => {
    if (l === length) {
      CODES_OF_LENGTH[length]!++;
      SYMBOLS.push(symbol);
    }
  });
}

/** A failure to decode a header block: the connection cannot go on (COMPRESSION_ERROR). */
export class HpackError extends Error {}

/** Decodes a Huffman-coded string (its octets as a latin1 string, as header values travel). */
export function huffmanDecode(bytes: Uint8Array, from: number, to: number): string {
  const out = Buffer.allocUnsafe(Math.ceil(((to - from) * 8) / 5));
  let n = 0;
  // One bit at a time through the canonical code: code is the bits read since the last symbol,
  // first the first code of the current length, index the symbols of the shorter lengths.
  let code = 0;
  let first = 0;
  let index = 0;
  let length = 0;
  for (let at = from; at < to; at++) {
    const byte = bytes[at]!;
    for (let bit = 7; bit >= 0; bit--) {
      code |= (byte >> bit) & 1;
      length++;
      const count = CODES_OF_LENGTH[length]!;
      if (code - first < count) {
        const symbol = SYMBOLS[index + code - first]!;
        if (symbol === EOS) throw new HpackError("EOS in a Huffman string");
        out[n++] = symbol;
        code = first = index = length = 0;
        continue;
      }
      index += count;
      first = (first + count) << 1;
      code <<= 1;
      if (length >= MAX_CODE_LENGTH) throw new HpackError("invalid Huffman code");
    }
  }
  // What is left must be padding: fewer than eight bits, all ones (EOS's first bits).
  if (length > 7 || code !== ((1 << length) - 1) << 1) throw new HpackError("invalid Huffman padding");
  return out.toString("latin1", 0, n);
}

/** The header fields of one block: names lower case, repeated fields joined with ",". */
export type Fields = Record<string, string>;

/** The server's header blocks, in order, through one dynamic table (the connection's). */
export class HpackDecoder {
  /** Newest entry last. */
  readonly #table: [string, string][] = [];
  #size = 0;
  #maxSize: number;
  /** The limit this client announced (SETTINGS_HEADER_TABLE_SIZE); updates may not exceed it. */
  readonly #limit: number;
  #block: Uint8Array = new Uint8Array(0);
  #at = 0;

  constructor(limit = 4096) {
    this.#limit = limit;
    this.#maxSize = limit;
  }

  decode(block: Uint8Array): Fields {
    this.#block = block;
    this.#at = 0;
    const fields: Fields = Object.create(null) as Fields;
    let first = true;
    while (this.#at < block.length) {
      const byte = block[this.#at]!;
      let name: string;
      let value: string;
      if (byte & 0x80) {
        // Indexed field.
        [name, value] = this.#entry(this.#int(7));
      } else if (byte & 0x40) {
        // Literal with incremental indexing.
        const index = this.#int(6);
        name = index === 0 ? this.#string() : this.#entry(index)[0];
        value = this.#string();
        this.#insert(name, value);
      } else if (byte & 0x20) {
        // Dynamic table size update: only where a block starts.
        if (!first) throw new HpackError("table size update after a field");
        const size = this.#int(5);
        if (size > this.#limit) throw new HpackError(`table size update to ${size} over ${this.#limit}`);
        this.#maxSize = size;
        this.#evict(0);
        continue;
      } else {
        // Literal without indexing or never indexed.
        const index = this.#int(4);
        name = index === 0 ? this.#string() : this.#entry(index)[0];
        value = this.#string();
      }
      first = false;
      const had = fields[name];
      fields[name] = had === undefined ? value : `${had},${value}`;
    }
    return fields;
  }

  /** An integer with an N-bit prefix (RFC 7541 5.1). */
  #int(prefix: number): number {
    const block = this.#block;
    const max = (1 << prefix) - 1;
    let value = block[this.#at++]! & max;
    if (value < max) return value;
    for (let shift = 0; ; shift += 7) {
      if (this.#at >= block.length) throw new HpackError("truncated integer");
      if (shift > 21) throw new HpackError("integer too large");
      const byte = block[this.#at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  }

  #string(): string {
    const block = this.#block;
    if (this.#at >= block.length) throw new HpackError("truncated string");
    const huffman = (block[this.#at]! & 0x80) !== 0;
    const length = this.#int(7);
    const start = this.#at;
    const end = start + length;
    if (end > block.length) throw new HpackError("truncated string");
    this.#at = end;
    if (huffman) return huffmanDecode(block, start, end);
    return Buffer.from(block.buffer, block.byteOffset + start, length).toString("latin1");
  }

  #entry(index: number): readonly [string, string] {
    if (index >= 1 && index <= STATIC.length) return STATIC[index - 1]!;
    const table = this.#table;
    const entry = table[table.length - (index - STATIC.length)];
    if (index === 0 || entry === undefined) throw new HpackError(`no header table entry ${index}`);
    return entry;
  }

  #insert(name: string, value: string): void {
    const size = name.length + value.length + 32;
    this.#evict(size);
    // An entry larger than the table empties it and is not kept (RFC 7541 4.4).
    if (size <= this.#maxSize) {
      this.#table.push([name, value]);
      this.#size += size;
    }
  }

  /** Evicts the oldest entries until room entries of this size fit. */
  #evict(room: number): void {
    const table = this.#table;
    let drop = 0;
    while (this.#size + room > this.#maxSize && drop < table.length) {
      const [name, value] = table[drop++]!;
      this.#size -= name.length + value.length + 32;
    }
    if (drop > 0) table.splice(0, drop);
  }
}

/** An integer with an N-bit prefix whose high bits are flags. */
function encodeInt(out: number[], flags: number, prefix: number, value: number): void {
  const max = (1 << prefix) - 1;
  if (value < max) {
    out.push(flags | value);
    return;
  }
  out.push(flags | max);
  value -= max;
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
}

/**
 * One field as a literal without indexing (sensitive: never indexed, so that no proxy keeps it in a
 * table), its name by static index when the static table has it; strings as plain octets.
 */
export function encodeField(name: string, value: string, sensitive = false): Buffer {
  const head: number[] = [];
  const flags = sensitive ? 0x10 : 0x00;
  const index = STATIC_NAMES.get(name);
  if (index !== undefined) {
    encodeInt(head, flags, 4, index);
  } else {
    encodeInt(head, flags, 4, 0);
    encodeInt(head, 0, 7, name.length);
  }
  const named = index === undefined ? name.length : 0;
  const lengthBytes: number[] = [];
  encodeInt(lengthBytes, 0, 7, value.length);
  const out = Buffer.allocUnsafe(head.length + named + lengthBytes.length + value.length);
  let at = 0;
  for (const b of head) out[at++] = b;
  if (named) at += out.write(name, at, "latin1");
  for (const b of lengthBytes) out[at++] = b;
  out.write(value, at, "latin1");
  return out;
}

/** An indexed field of the static table (":method: POST", ":scheme: https"). */
export function encodeIndexed(name: string, value: string): Buffer {
  const index = STATIC.findIndex(([n, v]) => n === name && v === value);
  if (index < 0) throw new Error(`${name}: ${value} is not in the static table`);
  return Buffer.from([0x80 | (index + 1)]);
}
