/**
 * Makes this process's node:zlib compress as another machine's would: the gzip header's OS byte that
 * zlib >= 1.2.12 writes on macOS (OS_CODE 19, zutil.h) and another deflate stream for the same input
 * (memLevel 9 and Z_FILTERED: what a zlib build with other hashing or matching may emit; still valid
 * deflate). Patches the module object itself, so code that calls zlib.gzipSync / deflateRawSync /
 * deflateSync at any time sees it. Returns the function that undoes it.
 */
import { createRequire } from "module";
import type * as Zlib from "zlib";

const zlib = createRequire(__filename)("zlib") as typeof Zlib;
/** OS_CODE of zlib >= 1.2.12 built for macOS (zutil.h `#  define OS_CODE 19`). */
export const MACOS_OS_CODE = 19;

export function installForeignZlib(): () => void {
    const z = zlib as unknown as Record<string, unknown>;
    const orig = { gzipSync: zlib.gzipSync, deflateRawSync: zlib.deflateRawSync, deflateSync: zlib.deflateSync };
    const other = (o?: Zlib.ZlibOptions): Zlib.ZlibOptions => ({ ...o, memLevel: 9, strategy: zlib.constants.Z_FILTERED });
    z.gzipSync = (buf: Zlib.InputType, o?: Zlib.ZlibOptions) => {
        const out = orig.gzipSync(buf, other(o));
        out[9] = MACOS_OS_CODE;
        return out;
    };
    z.deflateRawSync = (buf: Zlib.InputType, o?: Zlib.ZlibOptions) => orig.deflateRawSync(buf, other(o));
    z.deflateSync = (buf: Zlib.InputType, o?: Zlib.ZlibOptions) => orig.deflateSync(buf, other(o));
    return () => { Object.assign(z, orig); };
}
