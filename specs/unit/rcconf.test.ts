import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { formatRcValue, getRcVar, rcVarShellEdit, setRcVar } from "../../harness/boxes/netbsd/rcconf.ts";
import { UsageError } from "../../lib/errors.ts";

const RELEASES = ["6.1.5", "9.4", "10.1"] as const;
function fixture(name: string): string {
  return readFileSync(new URL(`../../harness/boxes/netbsd/fixtures/${name}`, import.meta.url), "utf8");
}

/** What the real /bin/sh says a variable is after sourcing `text` (unset -> undefined). */
async function shValue(dir: string, text: string, name: string): Promise<string | undefined> {
  const file = join(dir, "probe.conf");
  writeFileSync(file, text);
  const r = await execa(
    "/bin/sh",
    [
      "-c",
      `. "$1"; if [ "\${${name}+set}" = set ]; then printf '%s' "$${name}"; else exit 3; fi`,
      "sh",
      file,
    ],
    {
      reject: false,
    },
  );
  if (r.exitCode === 3) return undefined;
  assert.equal(r.exitCode, 0, r.stderr);
  return r.stdout;
}

describe("rc.conf reading", () => {
  for (const v of RELEASES) {
    it(`reads the installed rc.conf of NetBSD ${v}: the last assignment wins`, () => {
      const text = fixture(`rc.conf.netbsd-${v}`);
      assert.equal(getRcVar(text, "rc_configured"), "YES");
      assert.equal(getRcVar(text, "sshd"), "YES");
      assert.equal(getRcVar(text, "wscons"), "YES");
      assert.equal(getRcVar(text, "xencommons"), undefined);
    });
  }

  it("reads lines holding several assignments and trailing comments (/etc/defaults/rc.conf layout)", () => {
    const text = fixture("defaults-rc.conf.excerpt");
    assert.equal(getRcVar(text, "sshd"), "NO");
    assert.equal(getRcVar(text, "sshd_flags"), "");
    assert.equal(getRcVar(text, "dmesg_flags"), "");
    assert.equal(getRcVar(text, "ntpdate_flags"), "-b -s");
    assert.equal(getRcVar(text, "amd_dir"), "/amd");
    assert.equal(getRcVar(text, "poffd_flags"), "'shutdown -p now'");
    assert.equal(getRcVar(text, "no_swap"), "NO");
    assert.equal(getRcVar(text, "hostname"), "");
  });

  it("agrees with the real /bin/sh on quoting, comments and repeated assignments", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rcconf-"));
    try {
      const text = [
        "#xencommons=YES",
        'xendomains="dom1 dom2"  # both',
        'a=1 b=\'two words\' c="say \\"hi\\""',
        "xencommons=NO",
        "if [ -r /nonexistent ]; then",
        "\t. /nonexistent",
        "fi",
        "xencommons=YES\t# enabled",
        "export d=4",
        "",
      ].join("\n");
      for (const name of ["xendomains", "a", "b", "c", "xencommons", "d", "zz"]) {
        assert.equal(getRcVar(text, name), await shValue(dir, text, name), name);
      }
      assert.equal(
        getRcVar(fixture("defaults-rc.conf.excerpt"), "poffd_flags"),
        await shValue(dir, fixture("defaults-rc.conf.excerpt"), "poffd_flags"),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("rc.conf editing", () => {
  it("appends xencommons=YES once, keeping every line, and is idempotent", () => {
    const text = fixture("rc.conf.netbsd-6.1.5");
    const edited = setRcVar(text, "xencommons", "YES");
    assert.equal(edited, `${text}xencommons=YES\n`);
    assert.equal(setRcVar(edited, "xencommons", "YES"), edited);
    assert.equal(getRcVar(edited, "xencommons"), "YES");
  });

  it("rewrites the winning assignment in place, keeping its comment and its neighbours", () => {
    const text = 'sshd=NO\t\t\tsshd_flags=""\n#sshd=YES\nsshd=NO\t# off for now\nfoo=bar\n';
    const edited = setRcVar(text, "sshd", "YES");
    assert.equal(edited, 'sshd=NO\t\t\tsshd_flags=""\n#sshd=YES\nsshd=YES\t# off for now\nfoo=bar\n');
    const flags = setRcVar(text, "sshd_flags", "-4 -v");
    assert.equal(flags, 'sshd=NO\t\t\tsshd_flags="-4 -v"\n#sshd=YES\nsshd=NO\t# off for now\nfoo=bar\n');
  });

  it('quotes values sh would split, such as xendomains="dom1 dom2"', () => {
    const edited = setRcVar("rc_configured=YES\n", "xendomains", "dom1 dom2");
    assert.equal(edited, 'rc_configured=YES\nxendomains="dom1 dom2"\n');
    assert.equal(getRcVar(edited, "xendomains"), "dom1 dom2");
    assert.equal(setRcVar(edited, "xendomains", "dom1 dom2"), edited);
    assert.equal(formatRcValue('a "b" $c'), '"a \\"b\\" \\$c"');
    assert.equal(formatRcValue(""), '""');
  });

  it("does not treat a commented-out assignment as active", () => {
    const text = "#xencommons=YES\n";
    assert.equal(getRcVar(text, "xencommons"), undefined);
    assert.equal(setRcVar(text, "xencommons", "YES"), "#xencommons=YES\nxencommons=YES\n");
  });

  it("refuses bad names and multi-line values", () => {
    assert.throws(() => setRcVar("", "1abc", "x"), UsageError);
    assert.throws(() => setRcVar("", "ok", "a\nb"), UsageError);
    assert.throws(() => rcVarShellEdit("a-b", "x"), UsageError);
  });
});

describe("rc.conf edit run by /bin/sh", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "rcconf-sh-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function run(cmd: string): Promise<void> {
    const r = await execa("/bin/sh", ["-c", cmd], { reject: false });
    assert.equal(r.exitCode, 0, r.stderr);
  }

  for (const v of RELEASES) {
    it(`sets xencommons and xendomains in NetBSD ${v}'s rc.conf, idempotently`, async () => {
      const file = join(dir, "rc.conf");
      const original = fixture(`rc.conf.netbsd-${v}`);
      writeFileSync(file, original);
      await run(rcVarShellEdit("xencommons", "YES", file));
      await run(rcVarShellEdit("xendomains", "dom1 dom2", file));
      const once = readFileSync(file, "utf8");
      assert.equal(once, `${original}xencommons=YES\nxendomains="dom1 dom2"\n`);
      await run(rcVarShellEdit("xencommons", "YES", file));
      await run(rcVarShellEdit("xendomains", "dom1 dom2", file));
      assert.equal(readFileSync(file, "utf8"), once);
      assert.equal(await shValue(dir, once, "xendomains"), "dom1 dom2");
    });
  }

  it("drops earlier active assignments but keeps comments and shared lines, same result as setRcVar", async () => {
    const file = join(dir, "rc.conf");
    const text = "#xencommons=YES\nxencommons=NO # old\n xencommons='NO'\nxencommons=NO foo=1\nrest=1\n";
    writeFileSync(file, text);
    await run(rcVarShellEdit("xencommons", "YES", file));
    const edited = readFileSync(file, "utf8");
    assert.equal(edited, "#xencommons=YES\nxencommons=NO foo=1\nrest=1\nxencommons=YES\n");
    assert.equal(getRcVar(edited, "xencommons"), getRcVar(setRcVar(text, "xencommons", "YES"), "xencommons"));
    assert.equal(await shValue(dir, edited, "xencommons"), "YES");
  });
});
