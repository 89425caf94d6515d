// Per-connection limits against clients that send faster than they read: requests in flight, answers left unread, idle sockets.

import type { IncomingMessage, RequestListener, Server as HttpServer, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';

/** Requests one connection may have waiting for an answer at once (pipelining beyond this closes it). */
export const MAX_IN_FLIGHT = 32;
/** Answers a connection may leave unread, in bytes, before it is closed. */
export const MAX_UNREAD_BYTES = 1024 * 1024;

/**
 * Wraps `handler` so a connection is closed, and the request not handled, once it has more than
 * {@link MAX_IN_FLIGHT} requests waiting for answers or more than {@link MAX_UNREAD_BYTES} of answers its client
 * has not read. Node parses a whole chunk of pipelined requests at once and only then stops reading, so without
 * this one connection can queue thousands of answers in memory.
 */
export function boundedPerConnection(handler: RequestListener): RequestListener {
  const inFlight = new WeakMap<Socket, number>();
  return (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    if (socket.destroyed) return;
    const n = (inFlight.get(socket) ?? 0) + 1;
    if (n > MAX_IN_FLIGHT || socket.writableLength > MAX_UNREAD_BYTES) {
      socket.destroy();
      return;
    }
    inFlight.set(socket, n);
    res.once('close', () => inFlight.set(socket, (inFlight.get(socket) ?? 1) - 1));
    handler(req, res);
  };
}

/** Closes any connection with no traffic either way for `idleMs` (a client that stopped reading, or went away). */
export function dropIdleSockets(server: HttpServer | HttpsServer, idleMs: number): void {
  server.setTimeout(idleMs);
}
