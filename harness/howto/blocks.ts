/**
 * The command and configuration blocks of a HOWTO text (wiki markdown, or one revision recovered from the
 * side-by-side diff), each with the section it is in:
 * - indented code (four spaces or a tab), fenced code (``` or ~~~), and ikiwiki's
 *   `[[!template id=programlisting|filecontent text="""` ... `"""]]`;
 * - outside those, a line that is a whole `name=value` assignment (rc.conf, boot.cfg: `xencommons=YES`,
 *   `menu=Xen:...`), which a text that lost its indentation would otherwise hide.
 * Sections: ATX (`# Title`) and setext (a line underlined with === or ---) headings; in a text without
 * blank lines (`lossy`: the side-by-side diff drops them) also a short line that ends well before the
 * fill column, which is how that text shows the newer revision's headings (see lossyHeading).
 */
import type { SourceLine } from "./side-by-side.ts";

export interface HowtoBlock {
  /** Where its first line is. */
  where: string;
  section: string;
  /** Its lines, the block's indentation removed. */
  lines: string[];
}

export interface HowtoTextAnalysis {
  blocks: HowtoBlock[];
  /** The sections in order of appearance. */
  sections: string[];
}

const UNDERLINE = /^\s*(=+|-+)\s*$/;
const FENCE = /^\s*(```|~~~)/;
const TEMPLATE_OPEN = /\[\[!template\s+id="?(programlisting|filecontent)"?[^\n]*text="""(.*)$/;
const TEMPLATE_CLOSE = /"""\s*\]\]/;
const INDENTED = /^( {4}|\t)/;
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=("[^"]*"|\S+)$/;

/** The column the HOWTO's paragraphs are filled to. */
const FILL_COLUMN = 72;

/**
 * A heading in a text without blank lines: a short capitalised line without closing punctuation that
 * ends before the fill column would have made it end (the next line's first word would have fitted).
 */
function lossyHeading(line: string, next: string | undefined): boolean {
  const t = line.trim();
  const nextWord = next?.trim().split(/\s+/)[0] ?? "";
  return (
    t.length > 0 &&
    nextWord !== "" &&
    t.length + 1 + nextWord.length <= FILL_COLUMN &&
    t.split(/\s+/).length <= 8 &&
    /^[A-Z]/.test(t) &&
    !/[.,:;!?)]$/.test(t) &&
    !t.includes(":")
  );
}

function dedent(lines: string[]): string[] {
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => /^\s*/.exec(l)![0].length));
  return lines.map((l) => l.slice(Number.isFinite(indent) ? indent : 0));
}

export function analyseHowtoText(
  lines: readonly SourceLine[],
  opts: { lossy?: boolean } = {},
): HowtoTextAnalysis {
  const blocks: HowtoBlock[] = [];
  const sections: string[] = [];
  let section = "(before the first heading)";
  const enter = (s: string) => {
    section = s.replace(/^#+\s*/, "").trim();
    sections.push(section);
  };
  for (let i = 0; i < lines.length; i++) {
    const { text, where } = lines[i]!;
    const next = lines[i + 1]?.text;
    if (FENCE.test(text)) {
      const body: string[] = [];
      for (i++; i < lines.length && !FENCE.test(lines[i]!.text); i++) body.push(lines[i]!.text);
      blocks.push({ where, section, lines: dedent(body) });
      continue;
    }
    const template = TEMPLATE_OPEN.exec(text);
    if (template) {
      const body = template[2]!.trim() ? [template[2]!] : [];
      for (i++; i < lines.length && !TEMPLATE_CLOSE.test(lines[i]!.text); i++) body.push(lines[i]!.text);
      const last = lines[i]?.text.replace(TEMPLATE_CLOSE, "");
      if (last?.trim()) body.push(last);
      blocks.push({ where, section, lines: dedent(body) });
      continue;
    }
    if (INDENTED.test(text) && text.trim() !== "") {
      const body = [text];
      // Blank lines inside an indented block belong to it when indented code follows.
      while (i + 1 < lines.length) {
        const t = lines[i + 1]!.text;
        if (INDENTED.test(t) && t.trim() !== "") body.push(t);
        else if (
          t.trim() === "" &&
          INDENTED.test(lines[i + 2]?.text ?? "") &&
          lines[i + 2]!.text.trim() !== ""
        )
          body.push("");
        else break;
        i++;
      }
      blocks.push({ where, section, lines: dedent(body) });
      continue;
    }
    if (/^#{1,6}\s/.test(text)) {
      enter(text);
      continue;
    }
    if (text.trim() !== "" && next !== undefined && UNDERLINE.test(next) && !UNDERLINE.test(text)) {
      enter(text);
      i++;
      continue;
    }
    if (opts.lossy && lossyHeading(text, next)) {
      enter(text);
      continue;
    }
    if (ASSIGNMENT.test(text.trim())) blocks.push({ where, section, lines: [text.trim()] });
  }
  return { blocks, sections };
}

/**
 * Text as a reader sees it, for finding a HOWTO line in it: markdown links and images reduced to their
 * text, code marks dropped, all whitespace (line breaks too) one space.
 */
export function normalizeHowtoText(text: string): string {
  return text
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/`/g, "")
    .replace(/\s+/g, " ")
    .trim();
}
