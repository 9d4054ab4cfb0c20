/**
 * policies/lib/cidr.ts: CIDR sets judged by the public address space they cover. Property tests
 * check the arithmetic against a brute-force count on small prefixes; the examples are the evasions
 * string matching let through.
 */
import { strict as assert } from "assert";
import fc from "fast-check";
import { cidrBreadthProblems, parseCidr, prefixEquivalent, publicAddressCoverage } from "../policies/lib/cidr";

describe("CIDR breadth (policies/lib/cidr.ts)", () => {
    it("parses IPv4 and IPv6 CIDRs, canonicalises, flags host bits, refuses malformed ones", () => {
        assert.deepEqual(parseCidr("10.0.0.0/8")?.canonical, "10.0.0.0/8");
        assert.equal(parseCidr("10.0.0.1/8")?.hostBitsSet, true);
        assert.equal(parseCidr("10.0.0.1/8")?.canonical, "10.0.0.0/8");
        assert.equal(parseCidr("2001:DB8:0:0::/32")?.canonical, "2001:db8::/32");
        assert.equal(parseCidr("::ffff:192.0.2.0/120")?.canonical, "::ffff:c000:200/120");
        assert.equal(parseCidr("::/0")?.prefix, 0);
        for (const bad of ["10.0.0.0", "10.0.0.256/8", "10.0.0.0/33", "01.2.3.4/8", "1::2::3/64", "2001:db8::/129", "x/8", "10.0.0.0/08"]) assert.equal(parseCidr(bad), undefined, bad);
    });

    it("counts public space only: private, shared, loopback and link-local ranges count zero", () => {
        assert.equal(publicAddressCoverage(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16"]).ipv4, 0n);
        assert.equal(publicAddressCoverage(["fc00::/7", "fe80::/10", "::1/128"]).ipv6, 0n);
        assert.equal(publicAddressCoverage(["203.0.113.0/24"]).ipv4, 256n);
        assert.equal(publicAddressCoverage(["2001:db8:4d55::/48"]).ipv6, 1n << 80n);
    });

    it("sees the internet however it is spelled", () => {
        const internet = publicAddressCoverage(["0.0.0.0/0"]).ipv4;
        assert.equal(publicAddressCoverage(["0.0.0.0/1", "128.0.0.0/1"]).ipv4, internet);
        assert.equal(publicAddressCoverage(Array.from({ length: 256 }, (_, i) => `${i}.0.0.0/8`)).ipv4, internet);
        assert.equal(publicAddressCoverage(["::/0"]).ipv6, publicAddressCoverage(["2000::/3"]).ipv6);
        assert.equal(publicAddressCoverage(["::/1", "8000::/1"]).ipv6, 1n << 125n);
        assert.equal(internet, (1n << 32n) - (1n << 24n) * 3n - (1n << 22n) - (1n << 16n) - (1n << 20n) - (1n << 16n) - (1n << 29n), "0/0 minus the non-public ranges");
    });

    it("counts overlaps once", () => {
        assert.equal(publicAddressCoverage(["203.0.113.0/24", "203.0.113.128/25", "203.0.113.0/24"]).ipv4, 256n);
    });

    it("agrees with a brute-force count on random small sets (property)", () => {
        // Inside 198.18.0.0/15 (public, benchmark space) with prefixes /24-/32: enumerate addresses.
        const cidr = fc.tuple(fc.integer({ min: 0, max: (1 << 17) - 1 }), fc.integer({ min: 24, max: 32 })).map(([n, p]) => {
            const base = (198 << 24) + (18 << 16) + n;
            const net = (base >>> (32 - p)) << (32 - p) >>> 0;
            return `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${p}`;
        });
        fc.assert(fc.property(fc.array(cidr, { minLength: 1, maxLength: 6 }), (cidrs) => {
            const seen = new Set<number>();
            for (const c of cidrs) {
                const [a, p] = c.split("/");
                const start = a.split(".").reduce((x, o) => x * 256 + Number(o), 0);
                for (let i = 0; i < 2 ** (32 - Number(p)); i++) seen.add(start + i);
            }
            return publicAddressCoverage(cidrs).ipv4 === BigInt(seen.size);
        }), { numRuns: 200 });
    });

    it("prefixEquivalent names the block size a count amounts to", () => {
        assert.equal(prefixEquivalent(256n, 4), 24);
        assert.equal(prefixEquivalent(257n, 4), 23);
        assert.equal(prefixEquivalent(1n << 80n, 6), 48);
    });

    it("breadth problems say what the set covers and the limit, per IP version", () => {
        assert.deepEqual(cidrBreadthProblems(["203.0.113.0/24", "2001:db8:4d55::/48", "10.0.0.0/8"]), []);
        assert.deepEqual(cidrBreadthProblems(["0.0.0.0/1", "128.0.0.0/1"]), [
            "the IPv4 sources cover 3,702,390,784 public IPv4 addresses (as many as a /0); at most one /16 (65,536) is allowed",
        ]);
        assert.deepEqual(cidrBreadthProblems(["2001:db8::/32"]), ["the IPv6 sources cover 2^96 public IPv6 addresses (as many as a /32); at most one /48 is allowed"]);
        assert.deepEqual(cidrBreadthProblems(["52.0.0.0/16"]), []);
        assert.equal(cidrBreadthProblems(["52.0.0.0/15"]).length, 1);
        assert.deepEqual(cidrBreadthProblems(["52.0.0.0/15"], { ipv4MinPrefixLength: 15, ipv6MinPrefixLength: 48 }), []);
        assert.deepEqual(cidrBreadthProblems(["not-a-cidr"]), ["'not-a-cidr' is not a CIDR (e.g. 203.0.113.0/24 or 2001:db8::/48)"]);
    });
});
