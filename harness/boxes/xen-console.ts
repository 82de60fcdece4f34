/**
 * Xen hands the serial console's input to the dom0 through a 128-byte ring and drops what does not fit
 * (SERIAL_RX_SIZE in xen/drivers/char/console.c). Under TCG a dom0 can go unscheduled long enough for a
 * typed command line to overflow it, so a dom0's shell is typed to in pieces that fit, each once the
 * shell has read the one before.
 */
export const XEN_SERIAL_RX_BYTES = 128;

/** The most a dom0 shell is sent at once: the ring, less room for a key the harness sends unasked (RETURN). */
export const XEN_DOM0_MAX_TYPED_BYTES = XEN_SERIAL_RX_BYTES - 16;
