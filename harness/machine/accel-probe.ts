/**
 * The accelerator probe image and how to read what it printed. The image is accel-probe.asm assembled
 * (nasm -f bin); specs/unit/accel-probe.test.ts assembles the source again and compares the bytes.
 */

/** The stages the probe announces on COM1, in the order it reaches them. */
export const PROBE_STAGES = ["real-mode", "protected-mode", "long-mode", "timer-interrupt"] as const;
export type ProbeStage = (typeof PROBE_STAGES)[number];

/** Printed after the last stage: every stage worked. */
export const PROBE_BANNER = "NBXEN-ACCEL-PROBE-OK";

const IMAGE_BASE64 =
  "+jHAjtiOwI7QvAB8vnB96BIADwEWYH0PIMAMAQ8iwOowfAgAuvgDrITAdAPu6/jDZrgQAI7YjsCO0LwAfAAAvod9AADoXQAAAL8AEAAAuQAQAAAxwPOrxwUAEAAAAyAAAMcFACAAAAMwAADHBQAwAACDAAAADyDgg8ggDyLguAAQAAAPIti5gAAAwA8yDQABAAAPMA8gwA0AAACADyLA6rN8AAAYAGa6+AOshMB0A+7r+MO8AHwAAL6jfQAA6OT///+/AEIAALgvfQAAZokHx0cCGAAAjsHoEGaJRwYPARwlZn0AALAR5iCwIOYhsATmIbAB5iGw/uYhsP/mobA05kNmuJwu5kCI4OZA+/SAPCU+fQAAA3L1+r66fQAA6IT///++130AAOh6////9Ov9UP4EJT59AACwIOYgWEjPAJAAAAAAAAAAAP//AAAAms8A//8AAACSzwD//wAAAJqvAB8AQH0AAP8PAEAAAAAAAABuYnhlbi1wcm9iZSByZWFsLW1vZGUKAG5ieGVuLXByb2JlIHByb3RlY3RlZC1tb2RlCgBuYnhlbi1wcm9iZSBsb25nLW1vZGUKAG5ieGVuLXByb2JlIHRpbWVyLWludGVycnVwdAoATkJYRU4tQUNDRUwtUFJPQkUtT0sKAAAAAAAAAAAAAAAAAAAAAAAAVao=";

/** The 512-byte boot sector (a fresh copy). */
export function probeImage(): Buffer {
  return Buffer.from(IMAGE_BASE64, "base64");
}

/** What each stage is for Xen and a dom0, and what the CPU was doing when the next one did not come. */
const NEXT_STEP: Record<ProbeStage | "none", string> = {
  none: "before the boot sector printed anything (the BIOS did not run it)",
  "real-mode": "entering protected mode",
  "protected-mode": "entering long mode (4-level paging, EFER.LME)",
  "long-mode": "waiting for a timer interrupt (PIT through the PIC, a 64-bit IDT gate)",
  "timer-interrupt": "printing its banner",
};

export interface ProbeReading {
  /** Stages announced, in order. */
  reached: ProbeStage[];
  /** The banner came: every stage passed. */
  complete: boolean;
  /** "stalled entering long mode ..." when incomplete; empty when complete. */
  stalledAt: string;
}

export function readProbeOutput(output: string): ProbeReading {
  const reached = PROBE_STAGES.filter((s) => new RegExp(`^nbxen-probe ${s}\\r?$`, "m").test(output));
  const complete = output.includes(PROBE_BANNER);
  const last = reached.at(-1) ?? "none";
  return { reached, complete, stalledAt: complete ? "" : NEXT_STEP[last] };
}
