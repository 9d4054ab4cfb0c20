/**
 * gzip whose bytes are a pure function of the input: the same on Linux CI, a Mac and Windows, under
 * every Node release. The workstation's user data is sent gzip'd with `userDataReplaceOnChange`, so
 * a byte that depends on the machine that compressed it replaces every workstation.
 *
 * Node's zlib.gzipSync is not: its header's OS byte is the compressing zlib build's OS_CODE (3 on
 * Unix, 19 on macOS since zlib 1.2.12, 10 on Windows), and Node bundles Chromium's zlib, whose deflate
 * hashing (SIMD / CRC32-based insert_string) and version move with Node releases and CPUs. Here the
 * deflate stream comes from pako (pure JavaScript, pinned exactly in package.json and
 * package-lock.json) with every option fixed, and the RFC 1952 header and trailer are written here:
 *
 *   RFC 1952 (GZIP file format 4.3), section 2.3 "Member format":
 *   +---+---+---+---+---+---+---+---+---+---+
 *   |ID1|ID2|CM |FLG|     MTIME     |XFL|OS |   ID1 ID2 = 0x1f 0x8b, CM = 8 (deflate)
 *   +---+---+---+---+---+---+---+---+---+---+
 *   FLG 0: no FTEXT, FHCRC, FEXTRA, FNAME or FCOMMENT; MTIME 0: "no time stamp is available";
 *   XFL 2: "compressor used maximum compression, slowest algorithm" (level 9); OS 3: Unix.
 *   ...compressed blocks (RFC 1951)...
 *   +---+---+---+---+---+---+---+---+
 *   |     CRC32     |     ISIZE     |   CRC-32 of the uncompressed data; its length mod 2^32 (both LSB first)
 *   +---+---+---+---+---+---+---+---+
 *
 * XFL 2 and OS 3 are what zlib writes on Linux at level 9 (deflate.c: `s->level == 9 ? 2 : ...`,
 * OS_CODE 3 in zutil.h), and pako 3's default hash is the one Chromium's zlib uses ("legacyHash: false
 * ... matches recent (chromium) node.js output", pako 3.0.3 dist/pako.d.ts), so a stack last deployed
 * from Linux with Node 20 keeps its bytes (measured: Node 20.20.2, zlib 1.3.1-e00f703, byte-identical
 * for the test stack's document); one last deployed from a Mac changes once, to these bytes, and then
 * never again.
 */
import { deflateRaw, Z_DEFAULT_STRATEGY } from "pako";

/** The 10-byte member header: ID1 ID2 CM FLG MTIME(4) XFL OS (RFC 1952 section 2.3). */
export const GZIP_HEADER: readonly number[] = [0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03];

/** Every deflate option, fixed (pako's defaults today, written out so a new default changes nothing). */
export const DEFLATE_OPTIONS = { level: 9, windowBits: 15, memLevel: 8, strategy: Z_DEFAULT_STRATEGY, legacyHash: false } as const;

const CRC_TABLE = (() => {
    const t = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
        let c = n;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
        t[n] = c >>> 0;
    }
    return t;
})();

/** CRC-32 as RFC 1952 section 8 defines it (reflected polynomial 0xedb88320, pre- and post-inverted). */
export function crc32(data: Uint8Array): number {
    let c = 0xffffffff;
    for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
}

/** One gzip member: the fixed header, pako's raw deflate at level 9, CRC32 and ISIZE. */
export function deterministicGzip(data: Uint8Array): Buffer {
    const body = deflateRaw(data, DEFLATE_OPTIONS);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc32(data), 0);
    trailer.writeUInt32LE(data.length % 2 ** 32, 4);
    return Buffer.concat([Buffer.from(GZIP_HEADER), body, trailer]);
}
