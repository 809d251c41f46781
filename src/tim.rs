//! The exported `TIM` class: `TIM.create` and its statics, and the instance methods.
//!
//! Each method only converts arguments, hands a command to the [`Instance`]'s driver and returns its
//! Promise; the core decides everything.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise};
use tim_core::{Command, Config, NetworkHint};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::driver::{self, Instance};
use crate::{constants, convert, debug, error, log, options, promise, runtime};

#[wasm_bindgen(module = "/src/js/seed.js")]
extern "C" {
    /// 32 random bits: `crypto.getRandomValues` where there is one, else the top bits of `Math.random()`.
    fn random32() -> u32;
}

thread_local! {
    /// The live instance per SDKAppID: `TIM.create` returns the same JS object until `destroy()`. A list:
    /// a page holds one or two, and a map's code is not worth its size in the wasm.
    static INSTANCES: RefCell<Vec<(u64, JsValue, Rc<Instance>)>> = const { RefCell::new(Vec::new()) };
}

/// An SDK instance (`TIM.create(options)`), mirroring the official web SDK's login API.
#[wasm_bindgen(js_name = TIM)]
pub struct Tim {
    instance: Rc<Instance>,
    /// What `registerPlugin` was given: kept, never called.
    plugins: RefCell<Vec<JsValue>>,
}

#[wasm_bindgen(js_class = TIM)]
impl Tim {
    /// `TIM.create({SDKAppID, serverUrl, WebSocket?, logLevel?})`: the instance of that SDKAppID (the
    /// same object for the same SDKAppID until `destroy()`). `serverUrl` is one URL or an array of up to
    /// 16 (a random one first, then the next on a failed connect). The official `proxyServer` is accepted
    /// as the URL; `serverUrl` wins when both are given (with a warning). `logLevel` is
    /// `setLogLevel`'s, set before the first line is logged.
    ///
    /// # Errors
    /// Throws a `TimError`: 2000 when `SDKAppID` is not a positive integer (number or numeric string),
    /// 8003 when `serverUrl` is not a `ws://`/`wss://` URL or an array of 1 to 16 of them (the message
    /// names a bad entry, and for an `http(s)://` URL the `ws(s)://` one to use; also logged at error
    /// level), 8002 when `WebSocket` is not a constructor. A `logLevel` other than 0 to 4 is logged
    /// as `setLogLevel` logs it, and ignored.
    /// (The official SDK logs and returns `null`; a thrown error with a code is clearer.)
    pub fn create(options: JsValue) -> Result<JsValue, JsValue> {
        let opts = options::create(&options)?;
        if !(opts.log_level.is_undefined() || opts.log_level.is_null()) {
            log::set_level_from(&opts.log_level);
        }
        let choice = tim_core::choose_server_url(opts.server_url, opts.proxy_server);
        let mut config = Config::with_servers(opts.sdk_app_id, choice.urls);
        config.validate().map_err(|e| {
            // Also logged: a page whose script stops here shows why even if something swallows the throw.
            log::error(&[&e.message]);
            error::to_js(&e)
        })?;
        if let Some(warning) = choice.warning {
            log::warn(&[&warning]);
        }
        let existing = INSTANCES.with(|m| {
            let m = m.borrow();
            m.iter()
                .find(|(id, _, _)| *id == opts.sdk_app_id)
                .map(|(_, js, _)| js.clone())
        });
        if let Some(existing) = existing {
            return Ok(existing);
        }
        config.platform = opts.platform.unwrap_or_else(runtime::platform);
        // 64 random bits (see `src/js/seed.js`); the core derives the start URL of a `serverUrl` array
        // from them too, so that instances spread evenly over the URLs.
        config.seed((u64::from(random32()) << 32) | u64::from(random32()));
        let websocket = runtime::websocket(opts.websocket);
        config.transport_available = websocket.is_some();
        let instance = Instance::new(config, websocket);
        let tim: JsValue = Tim {
            instance: instance.clone(),
            plugins: RefCell::new(Vec::new()),
        }
        .into();
        INSTANCES.with(|m| m.borrow_mut().push((opts.sdk_app_id, tim.clone(), instance)));
        log::info(&["instance created for SDKAppID ", &log::num(opts.sdk_app_id)]);
        Ok(tim)
    }

    /// `TIM.EVENT`: event names.
    #[wasm_bindgen(getter = EVENT)]
    pub fn event() -> JsValue {
        constants::event_table()
    }

    /// `TIM.TYPES`: kick types and network states.
    #[wasm_bindgen(getter = TYPES)]
    pub fn types() -> JsValue {
        constants::types_table()
    }

    /// `TIM.VERSION`: the SDK version.
    #[wasm_bindgen(getter = VERSION)]
    pub fn version() -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }

    /// `tim.login({userID, userSig})`: emits `SDK_READY`, then resolves `{code: 0, data: {actionStatus,
    /// errorCode, errorInfo, repeatLogin?}}`. Rejects with a `TimError` (bad arguments included; 8004 when
    /// the platform has no WebSocket).
    pub fn login(&self, options: JsValue) -> Promise {
        let command = match options::login(&options) {
            Ok(c) => c,
            Err(e) => return promise::rejected(e),
        };
        self.instance.command(command)
    }

    /// `tim.logout()`: resolves `{code: 0, data: {}}` and emits `SDK_NOT_READY`; rejects with 2024
    /// when not logged in.
    pub fn logout(&self) -> Promise {
        self.instance.command(Command::Logout)
    }

    /// `tim.createTextMessage({to, conversationType: TIM.TYPES.CONV_C2C, payload: {text}})`: a Message
    /// (`ID`, `flow: 'out'`, `status: 'unSend'`) to give to `sendMessage`.
    ///
    /// # Errors
    /// Throws a `TimError` 8002 for options of the wrong type or a conversation type other than C2C.
    #[wasm_bindgen(js_name = createTextMessage)]
    pub fn create_text_message(&self, options: JsValue) -> Result<JsValue, JsValue> {
        let (conversation_type, to, text) = options::text_message(&options)?;
        let message = self
            .instance
            .with_session_mut(|s| s.create_text_message(driver::now(), &conversation_type, to, text))
            .map_err(|e| error::to_js(&e))?;
        Ok(convert::message(&message))
    }

    /// `tim.sendMessage(message)` (from `createTextMessage`) or `tim.sendMessage({to, text})`: needs the
    /// ready state (rejects with the not-ready reason before `SDK_READY`). Resolves `{code: 0, data:
    /// {message, sequence, time, timeMs}}`; a message object is settled in place (`status` success, or
    /// fail with `imError.data.message`).
    #[wasm_bindgen(js_name = sendMessage)]
    pub fn send_message(&self, options: JsValue) -> Promise {
        match options::send_message(&options) {
            Ok(command @ Command::SendTextMessage { .. }) => self.instance.command_for(command, Some(options)),
            Ok(command) => self.instance.command(command),
            Err(e) => promise::rejected(e),
        }
    }

    /// `tim.registerPlugin({name: plugin, ...})`: accepted so that the official setup line works; the
    /// plugins are kept on the instance but this SDK calls none of them (logged at `info`).
    #[wasm_bindgen(js_name = registerPlugin)]
    pub fn register_plugin(&self, plugins: JsValue) {
        let names = if plugins.is_object() {
            js_sys::Object::keys(plugins.unchecked_ref::<js_sys::Object>())
                .join(", ")
                .into()
        } else {
            String::new()
        };
        log::info(&["registerPlugin(", &names, "): stored; this SDK uses no plugin"]);
        self.plugins.borrow_mut().push(plugins);
    }

    /// `tim.on(name, handler, context?)`: calls `handler.call(context, {name, data})` on each event.
    pub fn on(&self, name: JsValue, handler: JsValue, context: JsValue) {
        self.add_listener(name, handler, context, false);
    }

    /// `tim.once(name, handler, context?)`: like `on`, for the next event only.
    pub fn once(&self, name: JsValue, handler: JsValue, context: JsValue) {
        self.add_listener(name, handler, context, true);
    }

    /// `tim.off(name, handler, context?, once?)`: removes the matching registrations.
    pub fn off(&self, name: JsValue, handler: JsValue, context: JsValue, once: JsValue) {
        let Some(name) = name.as_string() else {
            log::warn(&[&listener_name_warning("off", &name)]);
            return;
        };
        let removed = self
            .instance
            .listeners
            .borrow_mut()
            .remove(&name, &handler, &context, once.as_bool());
        log::log(&["off '", &name, "': ", &log::num(removed as u64), " listener(s) removed"]);
    }

    /// `tim.isReady()`: true between `SDK_READY` and `SDK_NOT_READY`.
    #[wasm_bindgen(js_name = isReady)]
    pub fn is_ready(&self) -> bool {
        self.instance.with_session(|s| s.is_ready())
    }

    /// `tim.getLoginUser()`: the logged-in userID, `""` when not logged in.
    #[wasm_bindgen(js_name = getLoginUser)]
    pub fn get_login_user(&self) -> String {
        self.instance.with_session(|s| s.login_user().to_owned())
    }

    /// `tim.setLogLevel(level)`: 0 log (default), 1 info, 2 warn, 3 error, 4 none.
    #[wasm_bindgen(js_name = setLogLevel)]
    pub fn set_log_level(&self, level: JsValue) {
        log::set_level_from(&level);
    }

    /// `tim.destroy()`: logs out if logged in, fails pending requests with 8005, emits
    /// `SDK_DESTROY {SDKAppID}`, releases sockets, timers and listeners, and frees the SDKAppID for a
    /// new `TIM.create`. Resolves `{code: 0, data: {}}`; later calls on this object reject with 8005.
    pub fn destroy(&self) -> Promise {
        let instance = &self.instance;
        let sdk_app_id = instance.sdk_app_id;
        let forgotten = INSTANCES.with(|m| {
            // Forget the cached object only if it is this instance: after a destroy, a new instance
            // may own the SDKAppID, and calling destroy() again on the old object must not drop it.
            let mut m = m.borrow_mut();
            let at = m.iter().position(|(_, _, cached)| Rc::ptr_eq(cached, instance));
            at.map(|at| m.swap_remove(at))
        });
        // Dropped here, with no borrow held.
        drop(forgotten);
        if instance.with_session(|s| s.state() != tim_core::SessionState::Destroyed) {
            driver::feed(instance, tim_core::Input::Destroy);
            let data = convert::object(&[("SDKAppID", (sdk_app_id as f64).into())]);
            instance.emit(constants::SDK_DESTROY, data);
            instance.release();
            log::info(&["instance of SDKAppID ", &log::num(sdk_app_id), " destroyed"]);
        }
        Promise::resolve(&convert::object(&[("code", 0.into()), ("data", convert::object(&[]))]))
    }

    /// Internal (runtime adapters): the platform reports a network change, `"online"` or `"offline"`
    /// (or a boolean: online). Anything else is ignored with a warning.
    #[wasm_bindgen(js_name = networkHint)]
    pub fn network_hint(&self, hint: JsValue) {
        if let Some(hint) = network_hint_from_js(&hint) {
            driver::feed(&self.instance, tim_core::Input::Network(hint));
        }
    }

    /// Internal (loaders): a network change for every live instance, e.g. from the browser's
    /// `online`/`offline` events, which belong to the page rather than to one instance.
    #[wasm_bindgen(js_name = __networkHintAll)]
    pub fn network_hint_all(hint: JsValue) {
        let Some(hint) = network_hint_from_js(&hint) else {
            return;
        };
        // Collect first: feeding may call listeners, which may create or destroy instances.
        let instances: Vec<Rc<Instance>> = INSTANCES.with(|m| m.borrow().iter().map(|(_, _, i)| i.clone()).collect());
        for instance in instances {
            driver::feed(&instance, tim_core::Input::Network(hint));
        }
    }

    /// Internal, for leak tests: `{listeners, pendingPromises, sockets, liveSockets, liveClosures,
    /// nextDeadline}` (`liveSockets`/`liveClosures` over all instances of the module; `nextDeadline` the
    /// core's next timer in `Date.now()` ms, or `null` when nothing is scheduled).
    #[wasm_bindgen(js_name = __debugCounts)]
    pub fn debug_counts(&self) -> JsValue {
        let listeners = self.instance.listeners.borrow().len() as f64;
        let pending = self.instance.promises.borrow().len() as f64;
        convert::object(&[
            ("listeners", listeners.into()),
            ("pendingPromises", pending.into()),
            ("sockets", (self.instance.socket_count() as f64).into()),
            ("liveSockets", (debug::live_sockets() as f64).into()),
            ("liveClosures", (debug::live_closures() as f64).into()),
            (
                "nextDeadline",
                self.instance
                    .next_deadline()
                    .map_or(JsValue::NULL, |t| JsValue::from(t as f64)),
            ),
        ])
    }

    fn add_listener(&self, name: JsValue, handler: JsValue, context: JsValue, once: bool) {
        let call = if once { "once" } else { "on" };
        let Some(name_text) = name.as_string() else {
            log::warn(&[&listener_name_warning(call, &name)]);
            return;
        };
        let Ok(handler) = handler.dyn_into::<Function>() else {
            log::warn(&[
                call,
                "('",
                &name_text,
                "', ...): the listener must be a function; nothing was registered",
            ]);
            return;
        };
        self.instance
            .listeners
            .borrow_mut()
            .add(name_text, handler, context, once);
    }
}

/// The warning for `on`/`once`/`off` called with an event name that is not a string: most often a
/// `TIM.EVENT.X` of the official SDK that this SDK does not have (so `undefined`).
fn listener_name_warning(call: &str, name: &JsValue) -> String {
    let got = if name.is_undefined() {
        "undefined".to_owned()
    } else {
        name.js_typeof().as_string().unwrap_or_default()
    };
    String::from(call)
        + ": the event name must be a string such as TIM.EVENT.SDK_READY, got "
        + &got
        + " (is it a TIM.EVENT name this SDK does not have?); the call was ignored"
}

/// `"online"`/`"offline"` (or a boolean: online) as a core hint; anything else is logged and ignored.
fn network_hint_from_js(hint: &JsValue) -> Option<NetworkHint> {
    match (hint.as_string().as_deref(), hint.as_bool()) {
        (Some("online"), _) | (_, Some(true)) => Some(NetworkHint::Online),
        (Some("offline"), _) | (_, Some(false)) => Some(NetworkHint::Offline),
        _ => {
            log::warn(&["networkHint: expects 'online' or 'offline'"]);
            None
        }
    }
}
