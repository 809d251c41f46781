/**
 * A `WebSocket`-shaped class over a mini-program's `connectSocket` and the SocketTask it returns, so the
 * SDK's transport code is the same as in browsers: only this adapter knows about `wx.connectSocket`.
 *
 * SocketTask: `send({data})`, `close({code, reason})`, `onOpen`, `onMessage` (`res.data` is a string for
 * text frames, an ArrayBuffer for binary ones), `onClose` (`res.code`, `res.reason`), `onError`.
 */
'use strict';

var CONNECTING = 0;
var OPEN = 1;
var CLOSING = 2;
var CLOSED = 3;

/** Returns a WebSocket-compatible constructor whose sockets are opened with `api.connectSocket`. */
function socketClass(api) {
  function MiniProgramSocket(url, protocols) {
    var self = this;
    this.url = String(url);
    this.protocol = '';
    this.extensions = '';
    this.binaryType = 'arraybuffer';
    this.bufferedAmount = 0;
    this.readyState = CONNECTING;
    this.onopen = null;
    this.onmessage = null;
    this.onerror = null;
    this.onclose = null;
    this._listeners = { open: [], message: [], error: [], close: [] };
    this._closeRequested = null;
    var request = {
      url: this.url,
      // Alipay returns a SocketTask only with `multiple: true`; the others ignore the field.
      multiple: true,
      fail: function (res) {
        self._fail(res);
      },
    };
    if (protocols !== undefined) request.protocols = typeof protocols === 'string' ? [protocols] : protocols;
    var task = api.connectSocket(request);
    if (!task || typeof task.onOpen !== 'function') {
      throw new Error('connectSocket returned no SocketTask: this runtime is not supported');
    }
    this._task = task;
    task.onOpen(function () {
      if (self._closeRequested && self.readyState === CLOSING) {
        // close() was called while connecting: finish that close now that the task can take it.
        self._closeTask(self._closeRequested.code, self._closeRequested.reason);
        return;
      }
      if (self.readyState !== CONNECTING) return;
      self.readyState = OPEN;
      self._emit('open', { type: 'open' });
    });
    task.onMessage(function (res) {
      if (self.readyState !== OPEN) return;
      self._emit('message', { type: 'message', data: res ? res.data : undefined });
    });
    task.onError(function (res) {
      self._emit('error', { type: 'error', message: errorText(res) });
    });
    task.onClose(function (res) {
      var code = res && typeof res.code === 'number' ? res.code : 1006;
      var reason = res && typeof res.reason === 'string' ? res.reason : '';
      self._finish(code, reason);
    });
  }

  MiniProgramSocket.CONNECTING = CONNECTING;
  MiniProgramSocket.OPEN = OPEN;
  MiniProgramSocket.CLOSING = CLOSING;
  MiniProgramSocket.CLOSED = CLOSED;
  MiniProgramSocket.prototype.CONNECTING = CONNECTING;
  MiniProgramSocket.prototype.OPEN = OPEN;
  MiniProgramSocket.prototype.CLOSING = CLOSING;
  MiniProgramSocket.prototype.CLOSED = CLOSED;

  /** Sends a string, ArrayBuffer or ArrayBuffer view. */
  MiniProgramSocket.prototype.send = function (data) {
    if (this.readyState === CONNECTING) throw new Error('InvalidStateError: the socket is still connecting');
    if (this.readyState !== OPEN) return;
    var self = this;
    var payload = data;
    if (typeof payload !== 'string' && ArrayBuffer.isView(payload)) {
      payload = payload.buffer.slice(payload.byteOffset, payload.byteOffset + payload.byteLength);
    }
    this._task.send({
      data: payload,
      fail: function (res) {
        self._emit('error', { type: 'error', message: errorText(res) });
      },
    });
  };

  /** Starts the closing handshake; `close` follows from the task's `onClose`. */
  MiniProgramSocket.prototype.close = function (code, reason) {
    if (this.readyState === CLOSING || this.readyState === CLOSED) return;
    var closeCode = code === undefined ? 1000 : code;
    var closeReason = reason === undefined ? '' : String(reason);
    if (this.readyState === CONNECTING) {
      this._closeRequested = { code: closeCode, reason: closeReason };
      this.readyState = CLOSING;
      return;
    }
    this.readyState = CLOSING;
    this._closeTask(closeCode, closeReason);
  };

  MiniProgramSocket.prototype.addEventListener = function (type, fn) {
    var list = this._listeners[type];
    if (list && typeof fn === 'function' && list.indexOf(fn) < 0) list.push(fn);
  };

  MiniProgramSocket.prototype.removeEventListener = function (type, fn) {
    var list = this._listeners[type];
    var at = list ? list.indexOf(fn) : -1;
    if (at >= 0) list.splice(at, 1);
  };

  MiniProgramSocket.prototype._closeTask = function (code, reason) {
    var self = this;
    this._task.close({
      code: code,
      reason: reason,
      fail: function () {
        self._finish(1006, '');
      },
    });
  };

  /** connectSocket itself failed (bad URL, domain not allowed): error, then close 1006. */
  MiniProgramSocket.prototype._fail = function (res) {
    this._emit('error', { type: 'error', message: errorText(res) });
    this._finish(1006, '');
  };

  /** The one `close` event of this socket; later reports of the same close are ignored. */
  MiniProgramSocket.prototype._finish = function (code, reason) {
    if (this.readyState === CLOSED) return;
    var opened = this.readyState !== CONNECTING && !this._closeRequested;
    this.readyState = CLOSED;
    this._emit('close', { type: 'close', code: code, reason: reason, wasClean: opened && code !== 1006 });
    this._listeners = { open: [], message: [], error: [], close: [] };
    this.onopen = this.onmessage = this.onerror = this.onclose = null;
  };

  MiniProgramSocket.prototype._emit = function (type, event) {
    event.target = this;
    var handler = this['on' + type];
    var list = this._listeners[type].slice();
    if (typeof handler === 'function') list.unshift(handler);
    // As in browsers: a throwing handler is reported and the others still run.
    for (var i = 0; i < list.length; i++) {
      try {
        list[i].call(this, event);
      } catch (e) {
        if (typeof console !== 'undefined') console.error('tim-wasm: socket ' + type + ' handler threw', e);
      }
    }
  };

  return MiniProgramSocket;
}

function errorText(res) {
  if (res && typeof res.errMsg === 'string') return res.errMsg;
  if (res && typeof res.message === 'string') return res.message;
  return 'socket error';
}

module.exports = { socketClass: socketClass };
