/**
 * OpenSSH public key checks for stack config, reading a key line the way OpenSSH 9.2 does. Pure.
 *
 * sshd reads each authorized_keys line with sshkey_read (sshkey.c): the type name, then the base64 blob up
 * to the next space or tab (b64_pton: canonical base64, padding to a multiple of 4, zero "slop" bits), then
 * a comment. The blob is decoded by sshkey_from_blob_internal and each type's deserialize_public:
 *  - ssh-ed25519: string type, string pk of exactly ED25519_PK_SZ (32) bytes (ssh-ed25519.c);
 *  - sk-ssh-ed25519@openssh.com: the same, then string application (ssh-ed25519-sk.c);
 *  - ecdsa-sha2-nistpN: string type, string curve name (must match the type: SSH_ERR_EC_CURVE_MISMATCH),
 *    string point, uncompressed only (sshbuf-getput-crypto.c get_ec: *d != POINT_CONVERSION_UNCOMPRESSED),
 *    on the curve (EC_POINT_oct2point), with log2(x) and log2(y) above log2(order)/2
 *    (sshkey_ec_validate_public) (ssh-ecdsa.c);
 *  - sk-ecdsa-sha2-nistp256@openssh.com: the same, then string application (ssh-ecdsa-sk.c);
 *  - ssh-rsa: string type, mpint e, mpint n: non-negative (sshbuf_get_bignum2: SSH_ERR_BIGNUM_IS_NEGATIVE),
 *    n of at least SSH_RSA_MINIMUM_MODULUS_SIZE (1024) bits and at most SSHBUF_MAX_BIGNUM (2048 bytes)
 *    (sshkey_check_rsa_length; ssh-rsa.c);
 * and nothing may follow (SSH_ERR_UNEXPECTED_TRAILING_DATA). test/config/ssh.test.ts runs the real
 * `ssh-keygen -l` (Debian's OpenSSH 9.2p1) on every case and asserts both agree; the one deliberate
 * difference is policy: RSA keys under 2048 bits, which OpenSSH still loads, are refused here.
 */
import * as crypto from "crypto";
import { SSH_KEY_LIMITS } from "../constants";

export const SSH_KEY_TYPES = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",
] as const;

/** RSA keys under this many bits are refused (OpenSSH's own floor is 1024; NIST SP 800-131A disallows < 2048). */
export const RSA_MIN_BITS = 2048;
/** OpenSSH's floor and ceiling (sshkey.h SSH_RSA_MINIMUM_MODULUS_SIZE, sshbuf.h SSHBUF_MAX_BIGNUM * 8). */
const OPENSSH_RSA_MIN_BITS = 1024;
const OPENSSH_RSA_MAX_BITS = 16384;

/** Curves by OpenSSH's curve name: the OpenSSL name Node knows and the bits of the group order. */
const CURVES: Record<string, { openssl: string; orderBits: number; fieldBytes: number }> = {
    nistp256: { openssl: "prime256v1", orderBits: 256, fieldBytes: 32 },
    nistp384: { openssl: "secp384r1", orderBits: 384, fieldBytes: 48 },
    nistp521: { openssl: "secp521r1", orderBits: 521, fieldBytes: 66 },
};

/** Private key armour (OpenSSH, PEM PKCS#1/SEC1/PKCS#8, PuTTY): pasting one means the secret half has left its owner. */
const PRIVATE_KEY = /-----BEGIN (OPENSSH |RSA |DSA |EC |ENCRYPTED |)PRIVATE KEY-----|PuTTY-User-Key-File-\d/;
export const PRIVATE_KEY_ADVICE = "this is a private key: use the .pub file, and treat the private key as exposed (generate a new pair with ssh-keygen -t ed25519, and remove the old public key wherever it is authorized)";

/** A cursor over an SSH wire-format blob (RFC 4251 §5: uint32-length-prefixed strings). */
class Blob {
    private at = 0;
    constructor(private readonly buf: Buffer) {}
    string(): Buffer | undefined {
        if (this.buf.length - this.at < 4) return undefined;
        const n = this.buf.readUInt32BE(this.at);
        if (this.buf.length - this.at - 4 < n) return undefined;
        const s = this.buf.subarray(this.at + 4, this.at + 4 + n);
        this.at += 4 + n;
        return s;
    }
    get rest(): number { return this.buf.length - this.at; }
}

const bits = (b: Buffer): number => {
    let i = 0;
    while (i < b.length && b[i] === 0) i++;
    return i === b.length ? 0 : (b.length - i - 1) * 8 + (32 - Math.clz32(b[i]));
};

/** The key's body problem, as OpenSSH would refuse it; undefined when OpenSSH would load it. */
function checkBlob(type: string, blob: Blob): string | undefined {
    const incomplete = "is cut short (OpenSSH: incomplete message); was the key broken across lines, or copied in part? Paste the whole line of the .pub file";
    const embedded = blob.string();
    if (!embedded) return incomplete;
    if (embedded.toString("latin1") !== type) return `says '${type}' but its body encodes '${embedded.toString("latin1").slice(0, 40)}'`;
    const sk = type.startsWith("sk-");
    if (type === "ssh-ed25519" || type === "sk-ssh-ed25519@openssh.com") {
        const pk = blob.string();
        if (!pk) return incomplete;
        if (pk.length !== 32) return `has a ${pk.length}-byte Ed25519 key; Ed25519 public keys are 32 bytes (OpenSSH: invalid format)`;
    } else if (type.startsWith("ecdsa-") || type.startsWith("sk-ecdsa-")) {
        const wanted = /nistp\d+/.exec(type)![0];
        const curveName = blob.string();
        if (!curveName) return incomplete;
        if (curveName.toString("latin1") !== wanted) return `says '${type}' but its body names curve '${curveName.toString("latin1").slice(0, 20)}' (OpenSSH: curve mismatch)`;
        const curve = CURVES[wanted];
        const point = blob.string();
        if (!point) return incomplete;
        const size = 1 + 2 * curve.fieldBytes;
        if (point[0] !== 0x04 || point.length !== size) return `has a ${point.length}-byte curve point; ${wanted} public keys are uncompressed ${size}-byte points (OpenSSH: invalid format)`;
        try { crypto.ECDH.convertKey(point, curve.openssl); } catch { return `has a point that is not on curve ${wanted} (OpenSSH: invalid format)`; }
        const x = point.subarray(1, 1 + curve.fieldBytes);
        const y = point.subarray(1 + curve.fieldBytes);
        if (bits(x) <= Math.floor(curve.orderBits / 2) || bits(y) <= Math.floor(curve.orderBits / 2)) return "has a degenerate curve point (OpenSSH: invalid key)";
    } else if (type === "ssh-rsa") {
        const e = blob.string();
        const n = e && blob.string();
        if (!e || !n) return incomplete;
        if ((e.length && e[0] & 0x80) || (n.length && n[0] & 0x80)) return "has a negative RSA number (OpenSSH: bignum is negative)";
        const nBits = bits(n);
        if (nBits < OPENSSH_RSA_MIN_BITS || nBits > OPENSSH_RSA_MAX_BITS) return `is a ${nBits}-bit RSA key; OpenSSH accepts ${OPENSSH_RSA_MIN_BITS}-${OPENSSH_RSA_MAX_BITS} bits (and this stack at least ${RSA_MIN_BITS}); use ssh-ed25519`;
        if (nBits < RSA_MIN_BITS) return `is an RSA key of ${nBits} bits, under ${RSA_MIN_BITS}; use ssh-ed25519 (ssh-keygen -t ed25519)`;
    }
    if (sk && !blob.string()) return incomplete;
    if (blob.rest !== 0) return `has ${blob.rest} byte(s) after the key (OpenSSH: unexpected trailing data); paste the .pub line exactly`;
    return undefined;
}

/** Checks an OpenSSH public key line as sshd reads authorized_keys: type, base64 body decoded per key type, comment. */
export function checkSshPublicKey(line: string): string | undefined {
    // Before any other check, and without echoing the value: it is a secret.
    if (PRIVATE_KEY.test(line)) return PRIVATE_KEY_ADVICE;
    if (/-----BEGIN PUBLIC KEY-----|---- BEGIN SSH2 PUBLIC KEY ----/.test(line)) {
        return "is a PEM / RFC 4716 public key, not an OpenSSH one; convert it with 'ssh-keygen -i -m PKCS8 -f key.pem' (PEM) or 'ssh-keygen -i -f key.pub' (RFC 4716) and paste the one-line result";
    }
    if (line.length > SSH_KEY_LIMITS.chars) return `is ${line.length} characters; at most ${SSH_KEY_LIMITS.chars} (an RSA-4096 key with a comment fits; shorten the comment or use ssh-ed25519)`;
    if (/[\r\n]/.test(line.trim())) return "spans several lines; give one key per list entry, on one line";
    const fields = line.trim().split(/[ \t]+/);
    if (fields.length < 2) return "is not an OpenSSH public key line ('<type> <base64> [comment]')";
    const [type, body] = fields;
    if (!(SSH_KEY_TYPES as readonly string[]).includes(type)) return `has key type '${type}'; use one of ${SSH_KEY_TYPES.join(", ")}`;
    // b64_pton (openbsd-compat/base64.c) takes only canonical base64: a multiple of 4 characters, zero trailing bits.
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length % 4 !== 0) return "has a body that is not base64";
    const raw = Buffer.from(body, "base64");
    if (raw.toString("base64") !== body) return "has a body that is not base64 (non-canonical padding bits)";
    return checkBlob(type, new Blob(raw));
}
