// The installed-NetBSD test double's boot loader reads boot.cfg as bootmenu.c does; the harness's Xen
// entry (harness/boxes/netbsd/bootcfg.ts) must come out of it as a multiboot entry that is the default.
import assert from "node:assert/strict";
import { withXenDefault, xenEntry } from "../../harness/boxes/netbsd/bootcfg.ts";
import { parseBootCfgText } from "../doubles/netbsd/boot.ts";

const INSTALLED = [
  "menu=Boot normally:rndseed /var/db/entropy-file;boot netbsd",
  "menu=Boot single user:rndseed /var/db/entropy-file;boot netbsd -s",
  "menu=Drop to boot prompt:prompt",
  "default=1",
  "timeout=5",
  "clear=1",
  "",
].join("\n");

describe("installed-NetBSD double: boot.cfg as the loader parses it", () => {
  it("menu lines split at the first ':', comments and lines without ':' are dropped", () => {
    const cfg = parseBootCfgText("# comment\nmenu=Broken entry without colon\n" + INSTALLED);
    assert.deepEqual(
      cfg.menu.map((m) => m.label),
      ["Boot normally", "Boot single user", "Drop to boot prompt"],
    );
    assert.equal(cfg.menu[0]!.command, "rndseed /var/db/entropy-file;boot netbsd");
    assert.equal(cfg.default, 1);
    assert.equal(cfg.timeout, 5);
  });

  it("timeout that is not a number waits; an out-of-range default falls back to 1; consdev is read", () => {
    const cfg = parseBootCfgText("menu=A:boot\nmenu=B:boot\ndefault=7\ntimeout=wait\nconsdev=pc\n");
    assert.equal(cfg.timeout, -1);
    assert.equal(cfg.default, 1);
    assert.equal(cfg.consdev, "pc");
  });

  it("the harness's serial Xen entry becomes the default entry with load before multiboot", () => {
    const entry = xenEntry({ dom0MemMiB: 512, serial: true, serialSpeed: 9600 });
    const cfg = parseBootCfgText(withXenDefault(INSTALLED, entry));
    const chosen = cfg.menu[cfg.default - 1]!;
    assert.equal(chosen.label, "Xen");
    const cmds = chosen.command.split(";").map((c) => c.trim());
    assert.match(cmds[0]!, /^load \/netbsd-XEN3_DOM0\.gz console=com0$/);
    assert.match(cmds[1]!, /^multiboot \/xen\.gz dom0_mem=512M console=com1 com1=9600,8n1$/);
    assert.ok(cfg.timeout > 0);
  });
});
