/**
 * TEST DOUBLE of NetBSD's x86 BIOS boot loader as seen on a serial console (boot2.c, bootmenu.c,
 * libsa's awaitkey countdown): the boot.cfg menu or the no-menu countdown, "Option: [N]:", the `> `
 * prompt with consdev/boot/menu/help. It returns what to boot; it loads nothing.
 */
import type { SimTty } from "./tty.ts";

export interface BootCfg {
  banner: string[];
  menu: { label: string; command: string }[];
  /** 1-based, as in boot.cfg */
  default: number;
  /** Seconds; < 0 waits at "Option: [N]:" */
  timeout: number;
}

export interface BootChoice {
  /** e.g. "netbsd", "netbsd -s" */
  kernel: string;
  /** `multiboot FILE ARGS` with the modules `load` queued before it (boot2.c: multiboot hands them to the kernel). */
  multiboot?: { path: string; args: string; modules: { path: string; args: string }[] };
}

/** The loader's view of its boot partition (the installed system's root), when it has one. */
export interface LoaderFiles {
  exists(file: string): boolean;
}

const CONSDEVS = ["pc", "com0", "com1", "com2", "com3", "com0kbd", "com1kbd", "com2kbd", "com3kbd", "auto"];

export class SimBootLoader {
  constructor(
    private readonly tty: SimTty,
    private readonly cfg: {
      revision: string;
      release: string;
      device: string;
      bootcfg?: BootCfg;
      files?: LoaderFiles;
    },
  ) {}

  private modules: { path: string; args: string }[] = [];

  async run(): Promise<BootChoice> {
    const { tty, cfg } = this;
    this.banner();
    if (cfg.bootcfg && cfg.bootcfg.menu.length > 0) return this.menu(cfg.bootcfg);
    tty.line("Press return to boot now, any other key for boot menu");
    tty.write(`booting ${cfg.device}:netbsd - starting in `);
    const k = await this.awaitKey(5);
    if (k === undefined || k === "\r" || k === "\n") return { kernel: "netbsd" };
    return this.prompt();
  }

  private banner(): void {
    const b = this.cfg.bootcfg?.banner ?? [];
    if (b.length > 0) {
      for (const l of b) this.tty.line(l);
      return;
    }
    this.tty.line("");
    this.tty.line(`>> NetBSD/x86 BIOS Boot, Revision ${this.cfg.revision} (from NetBSD ${this.cfg.release})`);
    this.tty.line(">> Memory: 639/1047424 k");
  }

  /** libsa's awaitkey(): "N seconds. " rewritten in place with backspaces; any key stops it. */
  private async awaitKey(seconds: number): Promise<string | undefined> {
    for (let i = seconds; i >= 0; i--) {
      const n = `${i} seconds. `;
      this.tty.write(n + "\b".repeat(n.length));
      if (i === 0) break;
      const k = await this.tty.keyWithin(1000);
      if (k !== undefined) {
        this.tty.line("0 seconds.     ");
        return k;
      }
    }
    this.tty.line("0 seconds.     ");
    return undefined;
  }

  private async menu(bc: BootCfg): Promise<BootChoice> {
    const { tty } = this;
    tty.line("");
    bc.menu.forEach((m, i) => tty.line(`    ${i < 9 ? " " : ""}${i + 1}. ${m.label}`));
    let timeout = bc.timeout;
    for (;;) {
      let choice = -1;
      if (timeout < 0) {
        tty.write(`\r\nOption: [${bc.default}]:`);
        const input = await tty.readLine({ echo: true });
        choice = this.choiceOf(input, bc);
      } else if (timeout === 0) {
        choice = bc.default - 1;
      } else {
        tty.line("");
        tty.line("Choose an option; RETURN for default; SPACE to stop countdown.");
        tty.write(`Option ${bc.default} will be chosen in `);
        const k = await this.awaitKey(timeout);
        choice = this.choiceOf(k ?? "", bc);
        if (choice === -1) timeout = -1;
      }
      if (choice < 0) continue;
      const r = await this.runCommands(bc.menu[choice]!.command, bc);
      if (r) return r;
    }
  }

  private choiceOf(input: string, bc: BootCfg): number {
    if (input === "" || input === "\r" || input === "\n") return bc.default - 1;
    if (!/^\d/.test(input)) return -1;
    const n = Number.parseInt(input, 10) - 1;
    return n >= 0 && n < bc.menu.length ? n : -1;
  }

  /** A menu entry's commands, split at ';'. Returns a boot choice, or undefined to go on. */
  private async runCommands(commands: string, bc: BootCfg | undefined): Promise<BootChoice | undefined> {
    this.modules = [];
    for (const raw of commands.split(";")) {
      const cmd = raw.trim();
      if (!cmd) continue;
      if (cmd === "prompt") {
        this.tty.line('type "?" or "help" for help.');
        return this.prompt(bc);
      }
      const r = await this.command(cmd, bc);
      if (r) return r;
    }
    return undefined;
  }

  private async prompt(bc?: BootCfg): Promise<BootChoice> {
    for (;;) {
      this.tty.write("> ");
      const input = (await this.tty.readLine({ echo: true })).trim();
      if (!input) continue;
      const r = await this.command(input, bc);
      if (r) return r;
    }
  }

  private async command(input: string, bc: BootCfg | undefined): Promise<BootChoice | undefined> {
    const [cmd = "", ...rest] = input.split(/\s+/);
    const arg = rest.join(" ");
    switch (cmd) {
      case "boot":
        return { kernel: arg || "netbsd" };
      case "consdev":
        if (!CONSDEVS.includes(arg)) {
          this.tty.line("invalid console device.");
          return undefined;
        }
        // The loader's console moves: on "pc" nothing more reaches the serial line.
        this.tty.muted = arg === "pc";
        this.banner();
        return undefined;
      case "menu":
        if (bc) return this.menu(bc);
        this.tty.line("No menu defined in boot.cfg");
        return undefined;
      case "load": {
        const [file = "", ...margs] = rest;
        if (this.cfg.files && !this.cfg.files.exists(file)) {
          this.tty.line(`${file}: No such file or directory`);
          return undefined;
        }
        this.modules.push({ path: file, args: margs.join(" ") });
        return undefined;
      }
      case "rndseed":
      case "userconf":
      case "modules":
        return undefined;
      case "multiboot": {
        const [file = "", ...margs] = rest;
        if (this.cfg.files?.exists(file))
          return { kernel: file, multiboot: { path: file, args: margs.join(" "), modules: this.modules } };
        this.tty.line(`multiboot: ${this.cfg.device}:${arg.split(" ")[0] ?? ""}: No such file or directory`);
        return undefined;
      }
      case "help":
      case "?":
        this.tty.line("commands are:");
        this.tty.line("boot [dev:][filename] [-12acdqsvxz]");
        this.tty.line("consdev {pc|com[0123]|com[0123]kbd|auto}");
        this.tty.line("menu (reenters boot menu, if defined in boot.cfg)");
        this.tty.line("help|?");
        this.tty.line("quit");
        return undefined;
      default:
        this.tty.line("unknown command");
        return undefined;
    }
  }
}

/** distrib/amd64/cdroms/bootcd/boot.cfg.in (boot-com.iso uses it, with console=com0 in its bootblocks). */
export function bootCdCfg(version: string): BootCfg {
  return {
    banner: [
      `Welcome to the NetBSD ${version} boot-only install CD`,
      "================================================================================",
      "",
      "This CD contains only the install kernels. Binary sets to complete the",
      "installation must be downloaded separately.",
      "",
      "ACPI should work on all modern and legacy hardware, however if you have ",
      "problems, please try disabling it.",
      "",
      "If you encounter problems on hardware manufactured after 1998 with ACPI",
      "enabled, please file a problem report including output from the 'dmesg'",
      "command.",
    ],
    menu: [
      { label: "Install NetBSD", command: "boot netbsd" },
      { label: "Install NetBSD (no ACPI)", command: "boot netbsd -2" },
      { label: "Install NetBSD (no ACPI, no SMP)", command: "boot netbsd -12" },
      { label: "Drop to boot prompt", command: "prompt" },
    ],
    default: 1,
    timeout: 30,
  };
}

/** etc/etc.amd64/boot.cfg of an installed system (10.x adds an rndseed command to the entries). */
export function installedCfg(major: number): BootCfg {
  const seed = major >= 10 ? "rndseed /var/db/entropy-file;" : "";
  return {
    banner: [],
    menu: [
      { label: "Boot normally", command: `${seed}boot netbsd` },
      { label: "Boot single user", command: `${seed}boot netbsd -s` },
      { label: "Disable ACPI", command: `${seed}boot netbsd -2` },
      { label: "Disable ACPI and SMP", command: `${seed}boot netbsd -12` },
      { label: "Drop to boot prompt", command: "prompt" },
    ],
    default: 1,
    timeout: 5,
  };
}
