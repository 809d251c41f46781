// `new Ctor(url)`: the socket of a login (a constructor that throws reaches the wasm as an error).
export const open = (Ctor, url) => new Ctor(url);

// A message's text: `undefined` for binary data, and for an event whose `data` cannot be read (a fake
// or an adapter may pass anything).
const text = (e) => {
  try {
    const data = e.data;
    return typeof data === 'string' ? data : undefined;
  } catch {
    return undefined;
  }
};

// An error event's reason: its message, else (a browser hides why a socket failed: its error event
// carries nothing) the usual causes. Node's `ws` and the mini-program adapter give a message. A getter
// may throw: a fake or an adapter may pass anything.
const reason = (e) => {
  try {
    if (e.message) return e.message;
  } catch {}
  return 'browsers hide why: server down? wrong port/path? ws:// on an https page? a proxy?';
};

// A socket's four handlers, made here around the instance's one function (`f(socket, kind, value)`,
// kind 0 open, 1 message (value: its text), 2 close, 3 error (value: `{message}`, which names the URL
// when the socket never opened)): opening a socket creates no closure in the wasm.
export const attach = (ws, socket, f) => {
  let opened;
  ws.onopen = (e) => {
    opened = 1;
    f(socket, 0, e);
  };
  ws.onmessage = (e) => f(socket, 1, text(e));
  ws.onclose = (e) => f(socket, 2, e);
  ws.onerror = (e) => f(socket, 3, { message: (opened ? '' : 'could not connect to ' + ws.url + ': ') + reason(e) });
};

// The `ws` package throws on an `error` event nobody listens to: a detached socket keeps a no-op.
const ignore = () => {};

export const detach = (ws) => {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onclose = null;
  ws.onerror = ignore;
};
