// A TCP proxy on 127.0.0.1 for resilience tests: it forwards every connection to a target port and can
// cut all live connections (the client sees the drop at once), refuse new ones for a while (the server
// looks down), or swallow the traffic of live connections without closing them (a half-open connection only a heartbeat can detect).
// It counts the connections it accepted, so a test can prove that a client did NOT reconnect.

import net from 'node:net';

/**
 * Starts a proxy listening on 127.0.0.1 (a free port) that forwards to 127.0.0.1:`targetPort`.
 * @param {number} targetPort
 * @returns {Promise<Proxy>}
 */
export async function startProxy(targetPort) {
  const proxy = new Proxy(targetPort);
  await proxy.listen();
  return proxy;
}

/** See {@link startProxy}. */
export class Proxy {
  constructor(targetPort) {
    this.targetPort = targetPort;
    /** Connections accepted since the start (refused ones included). */
    this.accepted = 0;
    /** Date.now() of each accepted connection, in order. */
    this.acceptTimes = [];
    /** Live client/upstream socket pairs. */
    this.pairs = new Set();
    this.refusing = false;
    this.server = net.createServer((client) => this.onClient(client));
  }

  listen() {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.port = this.server.address().port;
        resolve();
      });
    });
  }

  /** The WebSocket URL that reaches the target server through this proxy. */
  wsUrl() {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  onClient(client) {
    this.accepted += 1;
    this.acceptTimes.push(Date.now());
    if (this.refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    const pair = { client, upstream, blackholed: false };
    this.pairs.add(pair);
    const forward = (from, to) =>
      from.on('data', (chunk) => {
        if (!pair.blackholed && !to.destroyed) to.write(chunk);
      });
    forward(client, upstream);
    forward(upstream, client);
    // A close on one side is passed on to the other, except through a black hole, which passes on
    // nothing: the other side keeps a half-open connection until it notices by itself.
    const end = (from, other) => () => {
      from.destroy();
      if (!pair.blackholed) other.destroy();
      if (client.destroyed && upstream.destroyed) this.pairs.delete(pair);
    };
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ]) {
      socket.on('error', end(socket, other));
      socket.on('close', end(socket, other));
      socket.on('end', end(socket, other));
    }
  }

  /** Number of live proxied connections. */
  liveConnections() {
    return this.pairs.size;
  }

  /** Resets every live connection on both sides, as a network drop does. Returns how many were cut. */
  cutAll() {
    const n = [...this.pairs].filter((p) => !p.client.destroyed && !p.upstream.destroyed).length;
    for (const { client, upstream } of this.pairs) {
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
    this.pairs.clear();
    return n;
  }

  /** While on, new connections are accepted and reset at once (connection attempts fail). */
  setRefusing(on) {
    this.refusing = on;
  }

  /**
   * From now on, bytes in both directions of every live connection are dropped, and so is a close from
   * either end: half-open links that only a heartbeat or an idle timeout can detect. New connections
   * work normally.
   */
  blackholeLive() {
    for (const pair of this.pairs) pair.blackholed = true;
    return this.pairs.size;
  }

  /** Cuts everything and stops listening. */
  async close() {
    this.cutAll();
    await new Promise((resolve) => this.server.close(() => resolve()));
  }
}
