import assert from "node:assert/strict";
import { TextBuffer } from "../../harness/console/text-buffer.ts";

describe("TextBuffer", () => {
  it("gives the text from any absolute offset across chunks, and again after joining them", () => {
    const b = new TextBuffer();
    for (const c of ["abc", "def", "", "ghij", "k"]) b.append(c);
    assert.equal(b.length, 11);
    assert.equal(b.textFrom(0), "abcdefghijk");
    assert.equal(b.textFrom(4), "efghijk");
    b.append("lm");
    assert.equal(b.textFrom(4), "efghijklm");
    assert.equal(b.textFrom(10), "klm");
    assert.equal(b.textFrom(13), "");
    assert.equal(b.textFrom(-5), "abcdefghijklm", "clamped to the start");
    assert.equal(b.textFrom(99), "", "clamped to the end");
  });

  it("take and drop consume from the front and keep offsets absolute", () => {
    const b = new TextBuffer();
    for (const c of ["abc", "def", "ghi"]) b.append(c);
    assert.equal(b.textFrom(5), "fghi");
    assert.equal(b.take(4), "abcd");
    assert.equal(b.start, 4);
    assert.equal(b.end, 9);
    assert.equal(b.textFrom(0), "efghi", "offsets before the start are clamped");
    assert.equal(b.textFrom(6), "ghi");
    b.drop(3);
    assert.equal(b.textFrom(b.start), "hi");
    assert.equal(b.take(10), "hi", "take stops at the end");
    assert.equal(b.length, 0);
    assert.equal(b.start, 9);
    b.append("z");
    assert.equal(b.textFrom(9), "z");
  });
});
