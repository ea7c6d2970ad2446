/**
 * How the cache stores a value: plain UTF-8, or — from `CACHE_COMPRESS_MIN_BYTES` on —
 * `\x01<plain head>\x00<zstd of the whole value>`, so a long conversation takes ~6.7× less
 * memory while its owner check still reads the uncompressed head (docs/benchmarks.md, "Compression").
 */
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';

/** First byte of a compressed value. */
const COMPRESSED_BYTE = 0x01;

/** A stored value: plain UTF-8, or `\x01<head>\x00<zstd>`. */
export function encodeCacheValue(value: string, compressMinBytes: number, head = ''): Buffer {
  const plain = Buffer.from(value, 'utf8');
  if (compressMinBytes <= 0 || plain.length < compressMinBytes) return plain;
  // A head with NUL would end early on decode; such a value is stored without one.
  const safeHead = head.includes('\u0000') || !value.startsWith(head) ? '' : head;
  return Buffer.concat([Buffer.from([COMPRESSED_BYTE]), Buffer.from(safeHead, 'utf8'), Buffer.from([0]), zstdCompressSync(plain)]);
}

/** What a stored value says before it is decompressed. */
export interface StoredValue {
  /** The plain head of a compressed value, or the whole plain value. */
  readonly head: string;
  readonly complete: boolean;
  readonly text: () => string;
}

export function decodeCacheValue(stored: Buffer): StoredValue {
  if (stored[0] !== COMPRESSED_BYTE) {
    const text = stored.toString('utf8');
    return { head: text, complete: true, text: () => text };
  }
  const end = stored.indexOf(0, 1);
  return {
    head: stored.toString('utf8', 1, end),
    complete: false,
    text: () => zstdDecompressSync(stored.subarray(end + 1)).toString('utf8'),
  };
}

/** The value if it is wanted (starts with `expectPrefix`); decompresses only when the head cannot decide. */
export function acceptStoredValue(stored: StoredValue, expectPrefix: string | undefined): string | null {
  if (expectPrefix !== undefined && (stored.complete || stored.head.length >= expectPrefix.length) && !stored.head.startsWith(expectPrefix)) return null;
  const text = stored.text();
  return expectPrefix === undefined || text.startsWith(expectPrefix) ? text : null;
}
