/**
 * Console text received and not yet consumed by a match, kept as a list of chunks. Appending to one
 * growing string would not copy, but every regex search flattens such a string, copying all of it: with
 * megabytes of unconsumed output that is a full copy per chunk received. Offsets are absolute, counted
 * from the first character ever received.
 */
export class TextBuffer {
  private chunks: string[] = [];
  private size = 0;
  private first = 0;

  /** Absolute offset of the first unconsumed character. */
  get start(): number {
    return this.first;
  }

  /** Absolute offset just past the last character received. */
  get end(): number {
    return this.first + this.size;
  }

  get length(): number {
    return this.size;
  }

  append(text: string): void {
    if (!text) return;
    this.chunks.push(text);
    this.size += text.length;
  }

  /**
   * The text from absolute offset `from` (clamped to what is kept) to the end. The chunks it spans are
   * joined into one, so a caller that asks again from about the same place copies only what is new.
   */
  textFrom(from: number): string {
    const at = Math.min(Math.max(from, this.first), this.end);
    let i = this.chunks.length;
    let chunkStart = this.end;
    while (i > 0 && chunkStart > at) {
      i--;
      chunkStart -= this.chunks[i]!.length;
    }
    if (i === this.chunks.length) return "";
    const head = this.chunks[i]!;
    const cut = at - chunkStart;
    if (i === this.chunks.length - 1) return head.slice(cut);
    const tail = [head.slice(cut), ...this.chunks.slice(i + 1)].join("");
    this.chunks.splice(i, this.chunks.length - i, ...(cut > 0 ? [head.slice(0, cut), tail] : [tail]));
    return tail;
  }

  /** Removes the first `n` characters and returns them. */
  take(n: number): string {
    const count = Math.min(Math.max(n, 0), this.size);
    const parts: string[] = [];
    let left = count;
    while (left > 0) {
      const c = this.chunks[0]!;
      if (c.length <= left) {
        parts.push(c);
        this.chunks.shift();
        left -= c.length;
      } else {
        parts.push(c.slice(0, left));
        this.chunks[0] = c.slice(left);
        left = 0;
      }
    }
    this.size -= count;
    this.first += count;
    return parts.join("");
  }

  /** Removes the first `n` characters. */
  drop(n: number): void {
    this.take(n);
  }
}
