//! The driver of one instance: feeds the core, performs its outputs, then delivers.
//!
//! `feed` runs in three phases. First it hands the input to the core and drains every output into a
//! `Vec` (the session is borrowed only for that); then it performs the ones the peer must see at once
//! (open a socket, send), which can produce more inputs (a socket that cannot open). Second, it settles
//! Promises and calls listeners in the core's order. Third, it closes the sockets the core let go and
//! re-arms the timer: that work is only bookkeeping for the app, so it waits until the app has heard
//! (a `kicked` frame reaches `KICKED_OUT` without a close handshake's write in front of it).
//!
//! **No `RefCell` borrow is held across any call into JS** (socket constructor, `send`, `close`,
//! timers, listeners): a platform may call back at once, e.g. a mini-program adapter that reports a
//! failed `send` by firing `error` and `close` from inside it. Inputs go through one queue: an input that
//! arrives while a feed is running (from inside such a call) waits for that feed's loop, so the core
//! sees inputs one at a time, in order.
//! Deliveries go through a second queue: a listener that calls an SDK method (`logout()` inside
//! `KICKED_OUT`) feeds the core again, and what that produces is delivered after the events already
//! queued, so listeners always see the core's order.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use js_sys::Function;
use tim_core::{Command, Config, Event, Handle, Input, Output, Response, Session, SocketId, TimError};
use tim_protocol::ClientFrame;
use wasm_bindgen::prelude::*;

use crate::listeners::Listeners;
use crate::promise::Pending;
use crate::timer::Timer;
use crate::transport::{SocketEvents, SocketHandle};
use crate::{convert, log};

/// Something to hand to JS once no borrow is held.
enum Delivery {
    Settle(Handle, Result<Response, TimError>),
    Emit(&'static str, Payload),
}

/// An event's `data`: made into a JS value only when a listener is there to receive it.
enum Payload {
    Core(Event),
    Js(JsValue),
}

/// The state behind one `TIM` object.
pub struct Instance {
    /// The SDKAppID this instance was created with.
    pub sdk_app_id: u64,
    session: RefCell<Session>,
    websocket: Option<Function>,
    /// The sockets owned (one, two while a replaced one closes): a list, smaller in the wasm than a map.
    sockets: RefCell<Vec<(SocketId, Rc<SocketHandle>)>>,
    timer: RefCell<Option<Rc<Timer>>>,
    /// The Promises of commands not yet completed.
    pub promises: RefCell<Pending>,
    /// The listeners of `on`/`once`.
    pub listeners: RefCell<Listeners>,
    /// Inputs not yet handed to the core (see the module docs).
    inputs: RefCell<VecDeque<Input>>,
    /// Sockets the core let go, closed once the feed has delivered (see the module docs).
    closing: RefCell<Vec<(Rc<SocketHandle>, u16)>>,
    /// The closure every socket's handlers call; released by `destroy()` after the sockets.
    socket_events: RefCell<Option<Rc<SocketEvents>>>,
    feeding: Cell<bool>,
    queue: RefCell<VecDeque<Delivery>>,
    delivering: Cell<bool>,
    next_handle: Cell<Handle>,
    /// Set by `destroy()`: the I/O resources are released and never acquired again.
    released: Cell<bool>,
}

/// `Date.now()`.
pub fn now() -> u64 {
    js_sys::Date::now() as u64
}

impl Instance {
    /// A logged-out instance; `websocket` is the constructor its logins will use.
    pub fn new(config: Config, websocket: Option<Function>) -> Rc<Instance> {
        let sdk_app_id = config.sdk_app_id;
        let instance = Rc::new_cyclic(|weak: &Weak<Instance>| Instance {
            sdk_app_id,
            session: RefCell::new(Session::new(config)),
            websocket,
            sockets: RefCell::new(Vec::new()),
            timer: RefCell::new(None),
            promises: RefCell::new(Pending::default()),
            listeners: RefCell::new(Listeners::default()),
            inputs: RefCell::new(VecDeque::new()),
            closing: RefCell::new(Vec::new()),
            socket_events: RefCell::new(Some(Rc::new(SocketEvents::new({
                let weak = weak.clone();
                Box::new(move |input| {
                    if let Some(instance) = weak.upgrade() {
                        feed(&instance, input);
                    }
                })
            })))),
            feeding: Cell::new(false),
            queue: RefCell::new(VecDeque::new()),
            delivering: Cell::new(false),
            next_handle: Cell::new(1),
            released: Cell::new(false),
        });
        let weak = Rc::downgrade(&instance);
        let timer = Timer::new(move || {
            if let Some(instance) = weak.upgrade() {
                if let Some(timer) = instance.timer() {
                    timer.fired();
                }
                feed(&instance, Input::Timeout);
            }
        });
        *instance.timer.borrow_mut() = Some(Rc::new(timer));
        instance
    }

    /// Reads the session (never across a call into JS).
    pub fn with_session<T>(&self, f: impl FnOnce(&Session) -> T) -> T {
        f(&self.session.borrow())
    }

    /// Changes the session without an input (making a message draws an id); never across a call into JS.
    pub fn with_session_mut<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        f(&mut self.session.borrow_mut())
    }

    /// Starts a command and returns its Promise, settled when the core completes it.
    pub fn command(self: &Rc<Self>, command: Command) -> js_sys::Promise {
        self.command_for(command, None)
    }

    /// Like [`Instance::command`]; `message` is the JS message object that `sendMessage(message)` settles.
    pub fn command_for(self: &Rc<Self>, command: Command, message: Option<JsValue>) -> js_sys::Promise {
        let handle = self.next_handle.get();
        self.next_handle.set(handle + 1);
        let promise = self.promises.borrow_mut().register(handle, message);
        feed(self, Input::Command { handle, command });
        promise
    }

    /// Queues an event of the bindings themselves (`SDK_DESTROY`) and delivers it.
    pub fn emit(self: &Rc<Self>, name: &'static str, data: JsValue) {
        self.queue
            .borrow_mut()
            .push_back(Delivery::Emit(name, Payload::Js(data)));
        deliver(self);
    }

    /// The timer, out of its cell (so that no borrow is held while it calls `setTimeout`).
    fn timer(&self) -> Option<Rc<Timer>> {
        self.timer.borrow().clone()
    }

    /// The socket `id`, out of the map (so that no borrow is held while it calls into JS).
    fn socket(&self, id: SocketId) -> Option<Rc<SocketHandle>> {
        self.sockets
            .borrow()
            .iter()
            .find(|(s, _)| *s == id)
            .map(|(_, h)| h.clone())
    }

    /// Takes socket `id` out of the map; the caller drops or closes it with no borrow held.
    fn take_socket(&self, id: SocketId) -> Option<Rc<SocketHandle>> {
        let mut sockets = self.sockets.borrow_mut();
        let at = sockets.iter().position(|(s, _)| *s == id)?;
        Some(sockets.swap_remove(at).1)
    }

    /// `destroy()`, after the core was told: drops sockets, the timer and every listener.
    pub fn release(&self) {
        self.released.set(true);
        let sockets = std::mem::take(&mut *self.sockets.borrow_mut());
        drop(sockets);
        self.close_released();
        let timer = self.timer.borrow_mut().take();
        drop(timer);
        let socket_events = self.socket_events.borrow_mut().take();
        drop(socket_events);
        self.listeners.borrow_mut().clear();
    }

    /// Sockets currently owned.
    pub fn socket_count(&self) -> usize {
        self.sockets.borrow().len()
    }

    /// When the core next wants to be woken (ms on the `Date.now()` clock); `None` once it has nothing
    /// left to do by itself (logged out, kicked, destroyed): no reconnect or heartbeat can follow.
    pub fn next_deadline(&self) -> Option<u64> {
        if self.released.get() {
            return None;
        }
        self.session.borrow().poll_timeout()
    }

    /// Performs one output; I/O failures become inputs queued behind the current one.
    fn perform(self: &Rc<Self>, output: Output) {
        match output {
            Output::OpenSocket { socket, url } => self.open(socket, &url),
            Output::CloseSocket { socket, code } => {
                // Out of the map now (no input reaches the core from it), closed after delivery.
                let handle = self.take_socket(socket);
                if let Some(handle) = handle {
                    log::log(&[
                        "closing socket ",
                        &log::num(socket),
                        " with code ",
                        &log::num(code.into()),
                    ]);
                    self.closing.borrow_mut().push((handle, code));
                }
            }
            Output::Transmit { socket, frame } => self.transmit(socket, &frame),
            Output::Event(event) => {
                log_event(&event);
                let delivery = Delivery::Emit(convert::event_name(&event), Payload::Core(event));
                self.queue.borrow_mut().push_back(delivery);
            }
            Output::Completed { handle, result } => {
                self.queue.borrow_mut().push_back(Delivery::Settle(handle, result));
            }
        }
    }

    fn open(self: &Rc<Self>, socket: SocketId, url: &str) {
        let events = self.socket_events.borrow().clone();
        let failure = match (&self.websocket, events) {
            (_, None) => Some("the instance was destroyed".to_owned()),
            (None, Some(_)) => Some(tim_core::ErrorCode::NoWebSocket.message().to_owned()),
            (Some(ctor), Some(events)) => match SocketHandle::open(ctor, url, socket, &events) {
                Ok(handle) => {
                    log::log(&["socket ", &log::num(socket), " opening to ", url]);
                    self.sockets.borrow_mut().push((socket, Rc::new(handle)));
                    None
                }
                Err(reason) => Some(reason),
            },
        };
        if let Some(reason) = failure {
            log::warn(&["socket ", &log::num(socket), " could not open: ", &reason]);
            self.inputs.borrow_mut().push_back(Input::SocketClosed {
                socket,
                code: 1006,
                reason,
            });
        }
    }

    fn transmit(&self, socket: SocketId, frame: &ClientFrame) {
        let sent = match self.socket(socket) {
            Some(handle) => handle.send(&frame.encode()),
            None => Err("the socket is gone".to_owned()),
        };
        if let Err(reason) = sent {
            log::warn(&["socket ", &log::num(socket), ": send failed: ", &reason]);
            self.inputs.borrow_mut().push_back(Input::SocketClosed {
                socket,
                code: 1006,
                reason,
            });
        }
    }

    /// Closes the sockets the core let go, with no borrow held while each `close` runs.
    fn close_released(&self) {
        loop {
            let next = self.closing.borrow_mut().pop();
            let Some((handle, code)) = next else { break };
            handle.close(code);
        }
    }

    fn arm_timer(&self) {
        let deadline = self.session.borrow().poll_timeout();
        if let Some(timer) = self.timer() {
            timer.arm(deadline, now);
        }
    }
}

fn log_event(event: &Event) {
    match event {
        Event::Error { code, message } => log::error(&["error ", &log::num((*code).into()), ": ", message]),
        Event::KickedOut { kick_type, .. } => log::warn(&["kicked out: ", kick_type.as_str()]),
        other => log::info(&["event ", convert::event_name(other)]),
    }
}

/// Feeds one input, performs the outputs, then delivers (see the module docs).
pub fn feed(instance: &Rc<Instance>, input: Input) {
    instance.inputs.borrow_mut().push_back(input);
    if instance.feeding.replace(true) {
        // A feed further up the stack is inside a call into JS: its loop takes this input next.
        return;
    }
    loop {
        let next = instance.inputs.borrow_mut().pop_front();
        let Some(input) = next else { break };
        if let Input::SocketClosed { socket, .. } = &input {
            // The socket is gone: drop its handlers now (no `CloseSocket` follows a close).
            let gone = instance.take_socket(*socket);
            drop(gone);
        }
        let outputs: Vec<Output> = {
            let mut session = instance.session.borrow_mut();
            session.handle_input(now(), input);
            std::iter::from_fn(|| session.poll_output()).collect()
        };
        for output in outputs {
            instance.perform(output);
        }
    }
    instance.feeding.set(false);
    deliver(instance);
    instance.close_released();
    if !instance.released.get() {
        instance.arm_timer();
    }
}

/// Settles Promises and calls listeners, in order, with no borrow held across a call into JS.
fn deliver(instance: &Rc<Instance>) {
    if instance.delivering.replace(true) {
        // An outer `deliver` further up the stack drains the queue in order.
        return;
    }
    loop {
        let next = instance.queue.borrow_mut().pop_front();
        match next {
            None => break,
            Some(Delivery::Settle(handle, result)) => {
                let settler = instance.promises.borrow_mut().take(handle);
                if let Some(settler) = settler {
                    settler.settle(&result);
                }
            }
            Some(Delivery::Emit(name, payload)) => {
                let calls = instance.listeners.borrow_mut().take_calls(name);
                if calls.is_empty() {
                    continue;
                }
                let data = match payload {
                    Payload::Core(event) => convert::event_data(&event),
                    Payload::Js(data) => data,
                };
                let event = convert::listener_event(name, data);
                for call in calls {
                    call.invoke(name, &event);
                }
            }
        }
    }
    instance.delivering.set(false);
}
