import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  BootCfgError,
  HOWTO_XEN_LINE,
  assertXenDefault,
  deviationFromHowto,
  parseBootCfg,
  withXenDefault,
  xenEntry,
  xenMenuLine,
} from "../../harness/boxes/netbsd/bootcfg.ts";
import { UsageError } from "../../lib/errors.ts";

const RELEASES = ["6.1.5", "9.4", "10.1"] as const;
function fixture(version: string): string {
  return readFileSync(
    new URL(`../../harness/boxes/netbsd/fixtures/boot.cfg.netbsd-${version}`, import.meta.url),
    "utf8",
  );
}

const SERIAL = xenEntry({ dom0MemMiB: 512, serial: true });

describe("boot.cfg parser", () => {
  for (const v of RELEASES) {
    it(`reads the default boot.cfg of NetBSD ${v} as the loader does`, () => {
      const cfg = parseBootCfg(fixture(v));
      assert.deepEqual(
        cfg.entries.map((e) => e.label),
        ["Boot normally", "Boot single user", "Disable ACPI", "Disable ACPI and SMP", "Drop to boot prompt"],
      );
      assert.equal(cfg.default, 1);
      assert.equal(cfg.timeout, 5);
      assert.equal(cfg.consdev, undefined);
      assert.equal(cfg.menuFormat, "number");
      assert.deepEqual(cfg.entries[4]!.commands, ["prompt"]);
      const boot = cfg.entries[1]!.commands;
      assert.equal(boot[boot.length - 1], "boot netbsd -s");
      if (v === "6.1.5") assert.deepEqual(boot, ["boot netbsd -s"]);
      else assert.deepEqual(boot, ["rndseed /var/db/entropy-file", "boot netbsd -s"]);
      // The fixture's comment line and clear=1 are kept as "other" lines.
      assert.equal(cfg.other.length, 2);
      assert.ok(cfg.other[0]!.startsWith("# Fixture:"));
      assert.equal(cfg.other[1], "clear=1");
    });
  }

  it("cuts a line at '#', even inside a menu command", () => {
    const cfg = parseBootCfg("menu=One:boot netbsd # the usual\nmenu=Two:load /a.kmod;boot net#bsd -s\n");
    assert.deepEqual(cfg.entries[0]!.commands, ["boot netbsd"]);
    assert.deepEqual(cfg.entries[1]!.commands, ["load /a.kmod", "boot net"]);
    // A '#' before '=' leaves no key=value pair at all.
    assert.equal(parseBootCfg("#menu=X:boot\ntimeout#=3\n").entries.length, 0);
    assert.equal(parseBootCfg("timeout#=3\n").timeout, 10);
  });

  it("matches keywords by prefix, in the loader's order, and not after leading blanks", () => {
    const cfg = parseBootCfg(
      "menuitem=Foo:boot foo\ntimeouts=2\ndefaultish=2\nconsdevice=com0\n menu=Indented:boot x\n",
    );
    assert.deepEqual(
      cfg.entries.map((e) => e.label),
      ["Foo"],
    );
    assert.equal(cfg.timeout, 2);
    assert.equal(cfg.default, 1); // clamped: only one entry
    assert.equal(cfg.consdev, "com0");
    assert.deepEqual(cfg.other, [" menu=Indented:boot x"]);
  });

  it("drops menu lines without ':' and shows the command for an empty label", () => {
    const cfg = parseBootCfg("menu=No colon here\nmenu=:boot hd1a:netbsd -s\nmenu=A:b:c\n");
    assert.deepEqual(
      cfg.entries.map((e) => [e.label, e.commands]),
      [
        ["boot hd1a:netbsd -s", ["boot hd1a:netbsd -s"]],
        ["A", ["b:c"]],
      ],
    );
  });

  it("defaults the timeout to 10, reads a non-digit timeout as 'wait', clamps default", () => {
    assert.equal(parseBootCfg("menu=A:boot\n").timeout, 10);
    assert.equal(parseBootCfg("timeout=-1\n").timeout, -1);
    assert.equal(parseBootCfg("timeout=soon\n").timeout, -1);
    assert.equal(parseBootCfg("timeout=7s\n").timeout, 7);
    assert.equal(parseBootCfg("menu=A:a\nmenu=B:b\ndefault=9\n").default, 2);
    assert.equal(parseBootCfg("menu=A:a\nmenu=B:b\ndefault=0\n").default, 1);
    assert.equal(parseBootCfg("menu=A:a\nmenu=B:b\ndefault=2\ndefault=1\n").default, 1);
    assert.equal(parseBootCfg("").default, 0);
  });

  it("keeps only 9 entries with format=number and a countdown, letters them with format=auto", () => {
    const menu = Array.from({ length: 11 }, (_, i) => `menu=E${i + 1}:boot`).join("\n");
    assert.equal(parseBootCfg(`${menu}\nformat=number\ntimeout=5\n`).entries.length, 9);
    const auto = parseBootCfg(`${menu}\ntimeout=5\n`);
    assert.equal(auto.entries.length, 11);
    assert.equal(auto.menuFormat, "letter");
  });
});

describe("Xen boot entry", () => {
  it("puts the dom0 and Xen consoles on the first serial port in the serial variant", () => {
    assert.deepEqual(SERIAL, {
      label: "Xen",
      dom0Kernel: "/netbsd-XEN3_DOM0.gz",
      dom0Args: "console=com0",
      xenPath: "/xen.gz",
      xenArgs: "dom0_mem=512M console=com1 com1=115200,8n1",
    });
    assert.equal(
      xenMenuLine(xenEntry({ dom0MemMiB: 256, serial: true, serialSpeed: 9600, singleUser: true })),
      "menu=Xen single user:load /netbsd-XEN3_DOM0.gz console=com0 -s;multiboot /xen.gz dom0_mem=256M console=com1 com1=9600,8n1",
    );
  });

  it("reproduces the HOWTO's line exactly without serial, and reports no deviation then", () => {
    const howto = xenEntry({ dom0MemMiB: 256, serial: false });
    assert.equal(xenMenuLine(howto), HOWTO_XEN_LINE);
    assert.equal(deviationFromHowto(howto), undefined);
  });

  it("explains the serial deviation for the report", () => {
    const text = deviationFromHowto(SERIAL)!;
    assert.match(text, /console=pc/);
    assert.match(text, /consinit\.c/);
    assert.match(text, /console=com1/);
    assert.match(text, /dom0_mem=512M/);
    assert.ok(text.includes(HOWTO_XEN_LINE));
  });

  it("refuses values the loader would misread", () => {
    assert.throws(() => xenEntry({ dom0MemMiB: 256, serial: true, label: "Xen: dom0" }), UsageError);
    assert.throws(() => xenEntry({ dom0MemMiB: 256, serial: true, xenPath: "/xen.gz;boot" }), UsageError);
    assert.throws(() => xenEntry({ dom0MemMiB: 0, serial: true }), UsageError);
  });
});

describe("withXenDefault", () => {
  for (const v of RELEASES) {
    it(`makes Xen the default on NetBSD ${v}'s boot.cfg and keeps every other line`, () => {
      const original = fixture(v);
      const edited = withXenDefault(original, SERIAL);
      const cfg = parseBootCfg(edited);
      assert.equal(cfg.entries.length, 6);
      assert.equal(cfg.entries[5]!.label, "Xen");
      assert.deepEqual(cfg.entries[5]!.commands, [
        "load /netbsd-XEN3_DOM0.gz console=com0",
        "multiboot /xen.gz dom0_mem=512M console=com1 com1=115200,8n1",
      ]);
      assert.equal(cfg.default, 6);
      assert.equal(cfg.timeout, 3);
      // Every original line but default= and timeout= is still there, in order.
      const kept = original.split("\n").filter((l) => !/^(default|timeout)=/.test(l));
      const after = edited.split("\n");
      let at = 0;
      for (const line of kept) {
        const found = after.indexOf(line, at);
        assert.ok(found >= 0, `line lost: ${line}`);
        at = found + 1;
      }
      assert.ok(edited.endsWith("\n"));
      assert.equal(withXenDefault(edited, SERIAL), edited, "applying twice must equal applying once");
      assertXenDefault(edited, SERIAL);
    });
  }

  it("replaces the HOWTO's own Xen line instead of adding a second one", () => {
    const withHowto = `${fixture("6.1.5")}${HOWTO_XEN_LINE}\ndefault=6\n`;
    const edited = withXenDefault(withHowto, SERIAL);
    const cfg = parseBootCfg(edited);
    assert.equal(cfg.entries.filter((e) => e.label === "Xen").length, 1);
    assert.ok(!edited.includes("console=pc"));
    assert.equal(cfg.default, 6);
  });

  it("leaves a commented-out Xen line alone, and edits the last default/timeout the loader reads", () => {
    const text =
      "# menu=Xen:load /old\ntimeout=-1\nmenu=Boot normally:boot netbsd\ndefault=1\ntimeout=0\ndefault=1\n";
    const edited = withXenDefault(text, SERIAL, { timeoutSeconds: 2 });
    assert.equal(
      edited,
      "# menu=Xen:load /old\ntimeout=-1\nmenu=Boot normally:boot netbsd\n" +
        `${xenMenuLine(SERIAL)}\ndefault=1\ntimeout=2\ndefault=2\n`,
    );
  });

  it("handles a file without a final newline, an empty file, and consdev", () => {
    const edited = withXenDefault("menu=A:boot", SERIAL, { consdev: "com0" });
    assert.equal(edited, `menu=A:boot\n${xenMenuLine(SERIAL)}\ndefault=2\ntimeout=3\nconsdev=com0`);
    assert.equal(parseBootCfg(edited).consdev, "com0");
    assert.equal(withXenDefault("", SERIAL), `${xenMenuLine(SERIAL)}\ndefault=1\ntimeout=3\n`);
  });

  it("rejects a zero timeout, which would boot without showing the menu", () => {
    assert.throws(() => withXenDefault(fixture("9.4"), SERIAL, { timeoutSeconds: 0 }), UsageError);
  });
});

describe("assertXenDefault", () => {
  const good = withXenDefault(fixture("10.1"), SERIAL);
  const problems = (text: string): string[] => {
    try {
      assertXenDefault(text, SERIAL);
    } catch (e) {
      assert.ok(e instanceof BootCfgError);
      return e.problems;
    }
    return [];
  };

  it("passes the edited file and names each problem otherwise", () => {
    assert.deepEqual(problems(good), []);
    assert.deepEqual(problems(fixture("10.1")), ['no menu entry labelled "Xen"']);
    assert.deepEqual(problems(good.replace("default=6", "default=1")), [
      "default is entry 1, the Xen entry is 6",
    ]);
    assert.deepEqual(problems(good.replace("timeout=3", "timeout=-1")), ["timeout waits for a key forever"]);
    assert.deepEqual(problems(good.replace("timeout=3", "timeout=0")), [
      "timeout=0 boots without showing the menu",
    ]);
  });

  it("notices a '#' that silently shortened the Xen command", () => {
    const broken = good.replace("dom0_mem=512M", "dom0_mem=512M #serial");
    const p = problems(broken);
    assert.equal(p.length, 1);
    assert.match(p[0]!, /entry 6 runs/);
  });

  it("notices a duplicated Xen entry", () => {
    const dup = good.replace(/^(menu=Xen:.*)$/m, "$1\n$1");
    assert.ok(problems(dup).some((p) => p.startsWith("2 menu entries")));
  });
});
