// `npm run blocklist [-- --out FILE]`: builds the common-password filter that the password policy
// ships (src/authn/password/common-passwords.bin) from a public list an npm package provides:
// @zxcvbn-ts/language-common's "passwords-common" (49,233 passwords, from leaked-password
// frequency lists). Only passwords of 8 or more characters are kept (NFKC, lower case): shorter
// ones are refused by the length rule anyway. Each is kept as the first 4 bytes of its SHA-256,
// sorted, big-endian; the worker looks one up by binary search. Two passwords of a run of
// 4 billion share a hash: a false "too common" for about 1 password in 240,000.
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { dictionary } from "@zxcvbn-ts/language-common";
import { repoRoot } from "../tests/support/wrangler-config.mjs";

const MIN_LENGTH = 8;

/** The filter's bytes, and how many passwords went in. */
export function buildBlocklist() {
  const source = dictionary["passwords-common"];
  const hashes = new Set();
  for (const password of source) {
    const normalized = password.normalize("NFKC").toLowerCase();
    if ([...normalized].length < MIN_LENGTH) continue;
    hashes.add(createHash("sha256").update(normalized, "utf8").digest().readUInt32BE(0));
  }
  const sorted = [...hashes].sort((a, b) => a - b);
  const bytes = Buffer.alloc(sorted.length * 4);
  sorted.forEach((hash, index) => bytes.writeUInt32BE(hash, index * 4));
  return { bytes, listed: source.length, kept: sorted.length };
}

export const BLOCKLIST_FILE = path.join(repoRoot, "src", "authn", "password", "common-passwords.bin");

if (import.meta.url === `file://${process.argv[1]}`) {
  const at = process.argv.indexOf("--out");
  const out = at >= 0 ? path.resolve(process.argv[at + 1]) : BLOCKLIST_FILE;
  const { bytes, listed, kept } = buildBlocklist();
  writeFileSync(out, bytes);
  console.log(`blocklist: ${kept} of ${listed} passwords (${MIN_LENGTH}+ characters), ${bytes.length} bytes in ${path.relative(process.cwd(), out)}`);
}
