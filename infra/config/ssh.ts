/** OpenSSH public key checks for stack config. Pure. */
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

/** Checks an OpenSSH public key line: known type, base64 body whose embedded type matches. */
export function checkSshPublicKey(line: string): string | undefined {
    if (line.length > SSH_KEY_LIMITS.chars) return `is ${line.length} characters; at most ${SSH_KEY_LIMITS.chars} (an RSA-4096 key with a comment fits; shorten the comment or use ssh-ed25519)`;
    if (/[\r\n]/.test(line.trim())) return "spans several lines; give one key per list entry";
    const fields = line.trim().split(/\s+/);
    if (fields.length < 2) return "is not an OpenSSH public key line ('<type> <base64> [comment]')";
    const [type, body] = fields;
    if (!(SSH_KEY_TYPES as readonly string[]).includes(type)) return `has key type '${type}'; use one of ${SSH_KEY_TYPES.join(", ")}`;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length % 4 !== 0) return "has a body that is not base64";
    const blob = Buffer.from(body, "base64");
    if (blob.length < 4) return "has a truncated body";
    const n = blob.readUInt32BE(0);
    const embedded = blob.subarray(4, 4 + n).toString("latin1");
    if (embedded !== type) return `says '${type}' but its body encodes '${embedded.slice(0, 40)}'`;
    if (type === "ssh-rsa" && blob.length < 270) return "is an RSA key under 2048 bits; use ssh-ed25519";
    return undefined;
}
