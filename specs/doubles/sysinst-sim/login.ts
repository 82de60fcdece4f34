/**
 * TEST DOUBLE of getty(8) and login(1) on a NetBSD console: the `NetBSD/amd64 (host) (tty)` banner,
 * `login:`, `Password:` (root without a password logs in at once), the refusal and the motd's welcome.
 */
import type { SimTty } from "./tty.ts";

export interface ConsoleLogin {
  hostname: string;
  rootPassword: string;
  version: string;
  /** The kernel config the welcome names (GENERIC, XEN3_DOMU). */
  kernel: string;
  /** The console's tty name in the banner (constty on the dom0's, console on a domU's). */
  ttyName: string;
  log?: (line: string) => void;
}

/** Returns once root has logged in. */
export async function consoleLogin(tty: SimTty, o: ConsoleLogin): Promise<void> {
  for (;;) {
    tty.line("");
    tty.line(`NetBSD/amd64 (${o.hostname}) (${o.ttyName})`);
    tty.line("");
    tty.write("login: ");
    const user = (await tty.readLine({ echo: true })).trim();
    if (!user) continue;
    let ok = user === "root";
    if (o.rootPassword !== "" || user !== "root") {
      tty.write("Password:");
      const pw = await tty.readLine({ echo: false });
      ok = ok && pw === o.rootPassword;
    }
    if (!ok) {
      tty.line("Login incorrect or refused on this terminal.");
      o.log?.(`login: refused for ${JSON.stringify(user)}`);
      await tty.sleep(300);
      continue;
    }
    o.log?.("login: root");
    tty.line(`NetBSD ${o.version} (${o.kernel}) #0`);
    tty.line("");
    tty.line("Welcome to NetBSD!");
    tty.line("");
    return;
  }
}
