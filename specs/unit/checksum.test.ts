import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashFile, parseChecksumFile } from "../../images/store/checksum.ts";

const SHA512_A = "a".repeat(128);
const SHA512_B = "0123456789abcdef".repeat(8);
const SHA256_C = "c".repeat(64);
const MD5_D = "d".repeat(32);

describe("parseChecksumFile", () => {
  it("reads BSD-style lines as in NetBSD's SHA512 files", () => {
    const text = `SHA512 (base.tgz) = ${SHA512_A}\nSHA512 (kern-GENERIC.tgz) = ${SHA512_B}\n`;
    const entries = parseChecksumFile(text);
    assert.equal(entries.size, 2);
    assert.deepEqual(entries.get("base.tgz"), { algorithm: "sha512", hex: SHA512_A });
    assert.deepEqual(entries.get("kern-GENERIC.tgz"), { algorithm: "sha512", hex: SHA512_B });
  });

  it("reads GNU-style lines in text and binary mode and infers the algorithm from the length", () => {
    const text = `${SHA256_C}  boot-com.iso\n${SHA512_A} *netbsd-INSTALL.gz\n${MD5_D}  old.tgz\n`;
    const entries = parseChecksumFile(text);
    assert.deepEqual(entries.get("boot-com.iso"), { algorithm: "sha256", hex: SHA256_C });
    assert.deepEqual(entries.get("netbsd-INSTALL.gz"), { algorithm: "sha512", hex: SHA512_A });
    assert.deepEqual(entries.get("old.tgz"), { algorithm: "md5", hex: MD5_D });
  });

  it("keeps the strongest algorithm when a name is listed more than once, and never prefers MD5", () => {
    const text = [
      `MD5 (base.tgz) = ${MD5_D}`,
      `SHA512 (base.tgz) = ${SHA512_A}`,
      `MD5 (base.tgz) = ${MD5_D}`,
    ].join("\n");
    assert.deepEqual(parseChecksumFile(text).get("base.tgz"), { algorithm: "sha512", hex: SHA512_A });
  });

  it("returns MD5-only entries as md5 so callers can refuse them", () => {
    assert.deepEqual(parseChecksumFile(`MD5 (comp.tgz) = ${MD5_D.toUpperCase()}`).get("comp.tgz"), {
      algorithm: "md5",
      hex: MD5_D,
    });
  });

  it("lowercases hex, strips a leading ./, tolerates CRLF, blanks, comments and junk", () => {
    const text = [
      "# generated",
      "",
      `SHA256 (./xen.gz) = ${SHA256_C.toUpperCase()}\r`,
      "-----BEGIN PGP SIGNED MESSAGE-----",
      `SHA512 (short.tgz) = abc`,
      `${"e".repeat(40)}  sha1.tgz`,
      `  ${SHA512_B}  spaced name.iso  `,
    ].join("\n");
    const entries = parseChecksumFile(text);
    assert.deepEqual([...entries.keys()].sort(), ["spaced name.iso", "xen.gz"]);
    assert.deepEqual(entries.get("xen.gz"), { algorithm: "sha256", hex: SHA256_C });
  });

  it("returns an empty map for text with no checksums", () => {
    assert.equal(parseChecksumFile("<html>404</html>\n").size, 0);
  });
});

describe("hashFile", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "nbxen-checksum-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("gives the standard SHA-256 and SHA-512 digests of 'abc'", async () => {
    const file = join(dir, "abc");
    await writeFile(file, "abc");
    assert.equal(
      await hashFile(file, "sha256"),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    assert.equal(
      await hashFile(file, "sha512"),
      "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a" +
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    );
  });

  it("hashes a multi-chunk file like a one-shot digest", async () => {
    const data = Buffer.alloc(5 * 1024 * 1024 + 17, 7);
    const file = join(dir, "big");
    await writeFile(file, data);
    assert.equal(await hashFile(file, "sha512"), createHash("sha512").update(data).digest("hex"));
  });

  it("rejects for a missing file", async () => {
    await assert.rejects(hashFile(join(dir, "nope"), "sha256"), { code: "ENOENT" });
  });
});
