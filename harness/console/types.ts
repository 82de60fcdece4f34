/**
 * The byte stream behind a console: a node-pty IPty, a unix socket to the machine supervisor, or a
 * test double. The console engine only needs these four members.
 */
export interface ConsoleStream {
  write(data: string | Buffer): void;
  /** Subscribe to bytes from the guest. Returns an unsubscribe function. */
  onData(listener: (data: Buffer) => void): () => void;
  /** Called once when the stream ends (guest powered off, QEMU exited, socket closed). */
  onClose(listener: () => void): () => void;
  close(): void;
}
