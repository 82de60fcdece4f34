import net from "node:net";
import type { ConsoleStream } from "../console/types.ts";

/** Connects to a machine supervisor's console socket and presents it as a ConsoleStream. */
export function connectConsoleSocket(path: string): Promise<ConsoleStream> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(path);
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.removeListener("error", reject);
      socket.on("error", () => socket.destroy());
      resolve(socketStream(socket));
    });
  });
}

export function socketStream(socket: net.Socket): ConsoleStream {
  return {
    write: (data) => {
      if (!socket.destroyed) socket.write(data);
    },
    onData: (listener) => {
      socket.on("data", listener);
      return () => socket.off("data", listener);
    },
    onClose: (listener) => {
      if (socket.destroyed) {
        queueMicrotask(listener);
        return () => {};
      }
      socket.once("close", listener);
      return () => socket.off("close", listener);
    },
    close: () => socket.destroy(),
  };
}
