import { HarnessError } from "../../lib/errors.ts";

/** Shell commands around Xen's `xl` that read the same on every dom0 (POSIX sh: no seq, no bashisms). */

/** Waits up to a minute for a domain to disappear from `xl list`; exit status 0 once it has. */
export function domainGoneCommand(name: string): string {
  return `(i=0; while [ $i -lt 60 ]; do xl list ${name} >/dev/null 2>&1 || exit 0; sleep 1; i=$((i+1)); done; xl list ${name}; exit 1)`;
}

/** Waits up to three minutes for a domain to appear in `xl list` (xendomains at boot); lists it, exit 0 once it is there. */
export function domainListedCommand(name: string): string {
  return `(i=0; while [ $i -lt 90 ]; do xl list ${name} >/dev/null 2>&1 && break; sleep 2; i=$((i+1)); done; xl list ${name})`;
}

/** The domU runs but has no address the harness can reach (e.g. it still waits in its installer). */
export class DomUNoAddressError extends HarnessError {}
