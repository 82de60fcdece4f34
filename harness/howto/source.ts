/**
 * A HOWTO text to check coverage against, from a file or an http(s) URL: wiki markdown (one revision), or
 * the side-by-side diff of two revisions (both, recovered by parseSideBySide).
 */
import { readFile } from "node:fs/promises";
import { UsageError } from "../../lib/errors.ts";
import type { HowtoRevision } from "./lines.ts";
import { isSideBySide, parseSideBySide, type SourceLine } from "./side-by-side.ts";

export interface HowtoSource {
  /** The file or URL as given. */
  source: string;
  format: "markdown" | "side-by-side";
  /** Side-by-side: both revisions; markdown: one, labelled only when the caller says which it is. */
  texts: { revision?: HowtoRevision; lines: SourceLine[] }[];
  /** Side-by-side: the number of hunks (the text between them is not there). */
  hunks: number;
  /** Side-by-side rows whose split between the revisions was a guess. */
  ambiguousRows: number[];
}

export function howtoSourceFromText(source: string, text: string, revision?: HowtoRevision): HowtoSource {
  if (isSideBySide(text)) {
    const p = parseSideBySide(text);
    return {
      source,
      format: "side-by-side",
      texts: (["old", "new"] as const).map((r) => ({ revision: r, lines: p.revisions[r] })),
      hunks: p.hunks.length,
      ambiguousRows: p.ambiguousRows,
    };
  }
  const lines = text
    .replace(/\r\n/g, "\n")
    .split("\n")
    .map((t, i) => ({ text: t, where: `line ${i + 1}` }));
  return {
    source,
    format: "markdown",
    texts: [{ ...(revision ? { revision } : {}), lines }],
    hunks: 0,
    ambiguousRows: [],
  };
}

async function fetchText(url: string, timeoutMs: number): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "follow" });
  } catch (error) {
    const why =
      error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
    throw new UsageError(`cannot fetch ${url}: ${why} (give a file instead, e.g. a saved copy of the page)`);
  }
  if (!response.ok)
    throw new UsageError(`cannot fetch ${url}: HTTP ${response.status} ${response.statusText}`.trimEnd());
  return response.text();
}

/** Reads `fileOrUrl` (http:// or https:// is fetched, anything else is a file). */
export async function readHowtoSource(
  fileOrUrl: string,
  opts: { revision?: HowtoRevision; timeoutMs?: number } = {},
): Promise<HowtoSource> {
  let text: string;
  if (/^https?:\/\//i.test(fileOrUrl)) text = await fetchText(fileOrUrl, opts.timeoutMs ?? 30_000);
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(fileOrUrl))
    throw new UsageError(
      `${fileOrUrl}: only http:// and https:// URLs can be fetched; give a file otherwise`,
    );
  else
    try {
      text = await readFile(fileOrUrl, "utf8");
    } catch (error) {
      throw new UsageError(
        `cannot read ${fileOrUrl}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      );
    }
  return howtoSourceFromText(fileOrUrl, text, opts.revision);
}
