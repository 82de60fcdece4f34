import { XMLParser } from "fast-xml-parser";

/** One test case of a JUnit file, as the run history compares it. */
export interface CaseResult {
  /** Stable key: the suite (mocha's describe, or the steps suite) and the case's name. */
  id: string;
  status: "passed" | "failed" | "error" | "skipped";
  seconds: number;
  /** The failure's or error's message, first line. */
  message?: string;
  /** `<error type=...>` or the failure's type, when the file names one. */
  type?: string;
}

interface XmlCase {
  "@_classname"?: string;
  "@_name"?: string;
  "@_time"?: string;
  failure?: XmlFault | XmlFault[] | string;
  error?: XmlFault | XmlFault[] | string;
  skipped?: unknown;
}
interface XmlFault {
  "@_message"?: string;
  "@_type"?: string;
  "#text"?: string;
}

function firstFault(f: XmlCase["failure"]): XmlFault | undefined {
  if (f === undefined) return undefined;
  if (typeof f === "string") return { "#text": f };
  return Array.isArray(f) ? f[0] : f;
}

/** Reads the cases of a JUnit XML file (a <testsuite>, or <testsuites> of them). */
export function readJunit(xml: string): CaseResult[] {
  const parser = new XMLParser({
    ignoreAttributes: false,
    // mocha's xunit reporter writes an apostrophe as &#x27;: the ids are the names as the specs spell them.
    htmlEntities: true,
    isArray: (name) => name === "testsuite" || name === "testcase",
  });
  const doc = parser.parse(xml) as {
    testsuites?: { testsuite?: Array<{ testcase?: XmlCase[] }> };
    testsuite?: Array<{ testcase?: XmlCase[] }>;
  };
  const suites = doc.testsuites?.testsuite ?? doc.testsuite ?? [];
  const cases: CaseResult[] = [];
  for (const suite of suites)
    for (const c of suite.testcase ?? []) {
      const fault =
        firstFault(c.error) ??
        firstFault(c.failure) ??
        (typeof c.skipped === "object" && c.skipped !== null ? (c.skipped as XmlFault) : undefined);
      const status: CaseResult["status"] =
        c.error !== undefined
          ? "error"
          : c.failure !== undefined
            ? "failed"
            : c.skipped !== undefined
              ? "skipped"
              : "passed";
      const message = (fault?.["@_message"] ?? fault?.["#text"] ?? "").split("\n")[0]?.trim();
      cases.push({
        id: `${c["@_classname"] ?? ""} :: ${c["@_name"] ?? ""}`,
        status,
        seconds: Number(c["@_time"] ?? 0) || 0,
        ...(message ? { message } : {}),
        ...(fault?.["@_type"] ? { type: fault["@_type"] } : {}),
      });
    }
  return cases;
}
