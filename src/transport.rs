//! The WebSocket of an instance: any object with the W3C `WebSocket` shape.
//!
//! The constructor comes from `TIM.create({WebSocket})`, else from the default a loader installed
//! ([`crate::runtime`]: Node's entry installs the `ws` package, the mini-program entry an adapter over
//! `connectSocket`), else from the global `WebSocket`. Its four handlers are made in `src/js/socket.js`
//! around the instance's one [`SocketEvents`] closure, so opening a socket creates no closure in the
//! wasm. Dropping a [`SocketHandle`] sets `onopen`/`onmessage`/`onclose` to `null`, points `onerror` at a
//! shared no-op (the `ws` package throws on an `error` event nobody listens to) and closes the socket.

use std::cell::Cell;

use js_sys::{Function, Reflect};
use tim_core::{Input, SocketId};
use wasm_bindgen::prelude::*;

use tim_protocol::ServerFrame;

use crate::{debug, log};

#[wasm_bindgen]
extern "C" {
    /// An object with the W3C `WebSocket` shape.
    pub type Socket;

    #[wasm_bindgen(method, catch)]
    fn send(this: &Socket, text: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn close(this: &Socket, code: u16) -> Result<(), JsValue>;
    /// The event a socket handler receives (`CloseEvent`, an error event; a message arrives as its
    /// text, read in `src/js/socket.js`), read through plain getters: no key string crosses into JS per
    /// read. `catch`: a fake or adapter may pass anything, even `undefined`.
    type SocketEvent;
    #[wasm_bindgen(method, getter, catch)]
    fn code(this: &SocketEvent) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch)]
    fn reason(this: &SocketEvent) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch)]
    fn message(this: &SocketEvent) -> Result<JsValue, JsValue>;
}

#[wasm_bindgen(module = "/src/js/socket.js")]
extern "C" {
    /// `new ctor(url)`.
    #[wasm_bindgen(catch)]
    fn open(ctor: &Function, url: &str) -> Result<Socket, JsValue>;
    /// Points the socket's four handlers at `events(socket, kind, value)` (kinds: [`OPEN`],
    /// [`MESSAGE`] with the message's text, [`CLOSE`] with the event, and 3, an error, with the event).
    fn attach(ws: &Socket, socket: f64, events: &JsValue);
    /// Sets `onopen`/`onmessage`/`onclose` to `null` and `onerror` to a no-op.
    fn detach(socket: &Socket);
}

const OPEN: u8 = 0;
const MESSAGE: u8 = 1;
const CLOSE: u8 = 2;

/// Where a socket's events go: the driver's `feed`, given the input they make.
pub type Sink = Box<dyn Fn(Input)>;

/// The one closure every socket of an instance calls, `(socket, kind, value)`: made once per
/// instance, so a login creates (and its close drops) no closure. It must outlive the sockets that
/// call it; the instance drops its sockets first.
pub struct SocketEvents {
    closure: Closure<dyn FnMut(f64, u8, SocketEvent)>,
}

impl SocketEvents {
    /// Turns each socket event into an input for `sink`.
    pub fn new(sink: Sink) -> SocketEvents {
        debug::closure_created(1);
        let closure = Closure::new(move |socket: f64, kind: u8, event: SocketEvent| {
            sink(input(socket as SocketId, kind, &event))
        });
        SocketEvents { closure }
    }
}

impl Drop for SocketEvents {
    fn drop(&mut self) {
        // wasm-bindgen defers freeing the closure if it is running right now (an instance dropped from
        // inside one of its sockets' events).
        debug::closure_dropped(1);
    }
}

/// The input a socket event makes.
fn input(socket: SocketId, kind: u8, event: &SocketEvent) -> Input {
    match kind {
        OPEN => Input::SocketOpened { socket },
        MESSAGE => message_input(socket, event.as_string()),
        CLOSE => {
            let code = read(event, SocketEvent::code).as_f64().map_or(1006, |c| c as u16);
            let reason = read(event, SocketEvent::reason).as_string().unwrap_or_default();
            Input::SocketClosed { socket, code, reason }
        }
        // Some runtimes report a failure only through `error`: treat it as the close it means. Logged:
        // for a connect that failed, `src/js/socket.js` has put the URL and a reason in the message.
        _ => {
            let reason = String::from("socket error: ") + &describe(&read(event, SocketEvent::message));
            log::warn(&[&reason]);
            Input::SocketClosed {
                socket,
                code: 1006,
                reason,
            }
        }
    }
}

/// An open (or opening) socket; see the module docs for what drop does.
pub struct SocketHandle {
    socket: Socket,
    closed: Cell<bool>,
}

impl SocketHandle {
    /// `new ctor(url)` with handlers that pass the socket's events to `events` as `socket`'s.
    /// A constructor that throws (a bad URL, say) gives the exception's text.
    pub fn open(ctor: &Function, url: &str, socket: SocketId, events: &SocketEvents) -> Result<SocketHandle, String> {
        let ws = open(ctor, url).map_err(|e| String::from("the WebSocket constructor threw: ") + &describe(&e))?;
        attach(&ws, socket as f64, events.closure.as_ref());
        debug::socket_created();
        Ok(SocketHandle {
            socket: ws,
            closed: Cell::new(false),
        })
    }

    /// Sends one text frame; the error text when the socket refuses it.
    pub fn send(&self, text: &str) -> Result<(), String> {
        self.socket.send(text).map_err(|e| describe(&e))
    }

    /// Closes with `code` (1000 or 4000-4999). Handlers are detached first: no event follows.
    pub fn close(&self, code: u16) {
        if self.closed.replace(true) {
            return;
        }
        self.detach();
        // A socket that is already closing or closed may throw; there is nothing left to do then.
        let _ = self.socket.close(code);
    }

    fn detach(&self) {
        detach(&self.socket);
    }
}

impl Drop for SocketHandle {
    fn drop(&mut self) {
        if !self.closed.get() {
            self.detach();
            let _ = self.socket.close(1000);
        }
        debug::socket_dropped();
    }
}

fn get(target: &JsValue, key: &str) -> JsValue {
    if target.is_object() {
        Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

/// A property of a socket event; `undefined` when it is absent or its getter throws.
fn read(event: &SocketEvent, getter: fn(&SocketEvent) -> Result<JsValue, JsValue>) -> JsValue {
    if JsValue::is_object(event) {
        getter(event).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

/// A message (its text, `None` for binary data) as an input: text frames are decoded (the text crosses
/// into wasm once, and the protocol's codec checks its size and reads it), binary ones are undecodable.
fn message_input(socket: SocketId, text: Option<String>) -> Input {
    match text {
        Some(text) => match ServerFrame::decode(&text) {
            Ok(frame) => Input::FrameReceived { socket, frame },
            Err(error) => Input::FrameUndecodable {
                socket,
                error: error.describe(),
            },
        },
        None => Input::FrameUndecodable {
            socket,
            error: "binary frame: the protocol uses text frames only".to_owned(),
        },
    }
}

/// A short text for a JS exception or value.
pub fn describe(value: &JsValue) -> String {
    if let Some(s) = value.as_string() {
        return s;
    }
    let message = get(value, "message");
    if let Some(s) = message.as_string() {
        return s;
    }
    if value.is_undefined() {
        return "unknown".to_owned();
    }
    js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_else(|| "unknown".to_owned())
}
