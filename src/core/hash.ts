/**
 * FNV-1a (32-bit) over byte buffers, as 8 hex digits: a cheap fingerprint of file contents and
 * weights (which tokenizer start tokens belong to; whether a token cache still holds). Not
 * cryptographic. No Node imports (the browser player uses it).
 */
export function fnv1a(...buffers: ArrayBufferView[]): string {
  let h = 0x811c9dc5;
  for (const b of buffers) {
    const bytes = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}
