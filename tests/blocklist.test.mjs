// The shipped common-password filter (src/authn/password/common-passwords.bin) is exactly what
// `npm run blocklist` builds from the npm package's list: it cannot drift from its source.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { BLOCKLIST_FILE, buildBlocklist } from "../scripts/build-blocklist.mjs";

test("the shipped blocklist is the one built from @zxcvbn-ts/language-common", () => {
  const { bytes, listed, kept } = buildBlocklist();
  assert.ok(listed > 40_000, `${listed} passwords in the source list`);
  assert.ok(kept > 17_000, `${kept} kept`);
  const shipped = readFileSync(BLOCKLIST_FILE);
  assert.ok(shipped.equals(bytes), "common-passwords.bin differs from its source: run `npm run blocklist` and commit it");
  // A password of the list is in the filter under its hash.
  const password = createHash("sha256").update("baseball").digest().readUInt32BE(0);
  const entries = Array.from({ length: shipped.length / 4 }, (_, index) => shipped.readUInt32BE(index * 4));
  assert.ok(entries.includes(password));
});
