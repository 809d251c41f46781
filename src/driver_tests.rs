//! The whole binding (TIM object, driver, socket and timer owners) over a scripted fake WebSocket, in
//! Node and in headless Chromium: frames out, frames in, Promises, listener order and re-entrancy, and
//! the release of every closure.

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::convert::object;
use crate::debug;
use crate::tim::Tim;

/// A WebSocket-shaped class that records what the SDK does; `FakeWS.last` is the newest socket.
fn fake_websocket() -> Function {
    Function::new_no_args(
        "return class FakeWS {
            constructor(url) { this.url = url; this.sent = []; this.closedWith = null; FakeWS.last = this; }
            send(text) { this.sent.push(text); }
            close(code) { this.closedWith = code; }
        };",
    )
    .call0(&JsValue::NULL)
    .unwrap()
    .unchecked_into()
}

fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap()
}

fn call(target: &JsValue, method: &str, args: &[JsValue]) -> JsValue {
    let f: Function = get(target, method).unchecked_into();
    f.apply(target, &args.iter().collect::<Array>()).unwrap()
}

/// Fires a handler of the socket, as the runtime would.
fn fire(socket: &JsValue, handler: &str, event: JsValue) {
    let f: Function = get(socket, handler).unchecked_into();
    f.call1(socket, &event).unwrap();
}

fn sent_frame(socket: &JsValue, index: u32) -> JsValue {
    let sent: Array = get(socket, "sent").unchecked_into();
    js_sys::JSON::parse(&sent.get(index).as_string().unwrap()).unwrap()
}

async fn settle(promise: JsValue) -> Result<JsValue, JsValue> {
    JsFuture::from(promise.unchecked_into::<Promise>()).await
}

/// Records `{name, data}` of every event on `tim` into the returned array.
fn record_events(tim: &JsValue, names: &[&str]) -> Array {
    let log = Array::new();
    let push: Function = Function::new_with_args("log", "return (e) => log.push(e.name)")
        .call1(&JsValue::NULL, &log)
        .unwrap()
        .unchecked_into();
    for name in names {
        call(tim, "on", &[JsValue::from_str(name), push.clone().into()]);
    }
    log
}

fn login_ack(id: f64) -> JsValue {
    let text = format!(
        r#"{{"type":"loginAck","id":{id},"instanceId":"i1","helloIntervalMs":30000,"serverTimeMs":1700000000000}}"#
    );
    object(&[("data", text.into())])
}

/// Creates an instance with the fake socket and logs it in; returns (tim, socket, events).
async fn logged_in(sdk_app_id: u32) -> (JsValue, JsValue, Array) {
    let ctor = fake_websocket();
    let options = object(&[
        ("SDKAppID", sdk_app_id.into()),
        ("serverUrl", "ws://fake.invalid/ws".into()),
        ("WebSocket", ctor.clone().into()),
    ]);
    let tim = Tim::create(options).unwrap();
    call(&tim, "setLogLevel", &[4.into()]);
    let events = record_events(&tim, &["sdkStateReady", "sdkStateNotReady", "kickedOut"]);
    let login = call(
        &tim,
        "login",
        &[object(&[("userID", "alice".into()), ("userSig", "sig".into())])],
    );
    let socket = get(&ctor, "last");
    assert_eq!(get(&socket, "url").as_string().as_deref(), Some("ws://fake.invalid/ws"));
    assert_eq!(
        get(&socket, "sent").unchecked_into::<Array>().length(),
        0,
        "nothing sent before open"
    );
    fire(&socket, "onopen", JsValue::UNDEFINED);
    let frame = sent_frame(&socket, 0);
    assert_eq!(get(&frame, "type").as_string().as_deref(), Some("login"));
    assert_eq!(get(&frame, "userId").as_string().as_deref(), Some("alice"));
    assert_eq!(get(&frame, "sdkAppId").as_f64(), Some(sdk_app_id as f64));
    fire(&socket, "onmessage", login_ack(get(&frame, "id").as_f64().unwrap()));
    let response = settle(login).await.unwrap();
    assert_eq!(get(&response, "code").as_f64(), Some(0.0));
    assert_eq!(
        get(&get(&response, "data"), "actionStatus").as_string().as_deref(),
        Some("OK")
    );
    assert_eq!(call(&tim, "isReady", &[]).as_bool(), Some(true));
    assert_eq!(call(&tim, "getLoginUser", &[]).as_string().as_deref(), Some("alice"));
    (tim, socket, events)
}

#[wasm_bindgen_test]
async fn login_then_logout_over_the_socket() {
    let closures_before = debug::live_closures();
    let (tim, socket, events) = logged_in(91).await;
    assert_eq!(events.to_vec(), vec![JsValue::from("sdkStateReady")]);
    let logout = call(&tim, "logout", &[]);
    let frame = sent_frame(&socket, 1);
    assert_eq!(get(&frame, "type").as_string().as_deref(), Some("logout"));
    let ack = format!(r#"{{"type":"logoutAck","id":{}}}"#, get(&frame, "id").as_f64().unwrap());
    fire(&socket, "onmessage", object(&[("data", ack.into())]));
    let response = settle(logout).await.unwrap();
    assert_eq!(
        Object::keys(get(&response, "data").unchecked_ref::<Object>()).length(),
        0
    );
    assert_eq!(
        events.to_vec().last().and_then(|v| v.as_string()).as_deref(),
        Some("sdkStateNotReady")
    );
    // Logged out: the socket is released and its handlers detached.
    assert!(get(&socket, "onmessage").is_null());
    assert!(
        get(&socket, "onerror").is_function(),
        "onerror keeps a no-op (ws throws without one)"
    );
    settle(call(&tim, "destroy", &[])).await.unwrap();
    assert_eq!(
        debug::live_closures(),
        closures_before,
        "every closure of the instance is released"
    );
}

/// The events of a logged-in instance that was then kicked, in the core's order.
fn assert_kicked_in_order(events: &Array) {
    let expected = ["sdkStateReady", "kickedOut", "sdkStateNotReady"].map(JsValue::from);
    assert_eq!(events.to_vec(), expected.to_vec());
}

#[wasm_bindgen_test]
async fn a_listener_may_log_out_inside_kicked_out_and_events_keep_their_order() {
    let (tim, socket, events) = logged_in(92).await;
    let results = Array::new();
    // Inside KICKED_OUT, call logout(): it must not hit a borrow of the running driver.
    let reenter = Function::new_with_args(
        "tim, results",
        "return (e) => { results.push('listener:' + e.data.type);
                         tim.logout().then(() => results.push('resolved'), (err) => results.push(err.code)); }",
    )
    .call2(&JsValue::NULL, &tim, &results)
    .unwrap();
    call(&tim, "on", &["kickedOut".into(), reenter]);
    let kicked = r#"{"type":"kicked","kickType":"multipleAccount"}"#;
    fire(&socket, "onmessage", object(&[("data", kicked.into())]));
    assert_kicked_in_order(&events);
    // Let the rejection of the inner logout() run.
    settle(Promise::resolve(&JsValue::NULL).into()).await.unwrap();
    settle(Promise::resolve(&JsValue::NULL).into()).await.unwrap();
    assert_eq!(results.get(0).as_string().as_deref(), Some("listener:multipleAccount"));
    assert_eq!(results.get(1).as_f64(), Some(2024.0));
    assert_eq!(call(&tim, "isReady", &[]).as_bool(), Some(false));
    settle(call(&tim, "destroy", &[])).await.unwrap();
}

/// A kick reaches the app before the socket's close handshake is started (the close is bookkeeping and
/// costs a write in Node's `ws`), and the socket is closed once the frame's feed has delivered. Events
/// with no listener (NET_STATE_CHANGE here) are skipped without disturbing the ones that have one.
#[wasm_bindgen_test]
async fn kicked_out_is_delivered_before_the_socket_is_closed() {
    let (tim, socket, events) = logged_in(96).await;
    let seen = Array::new();
    let listener = Function::new_with_args(
        "socket, seen",
        "return (e) => seen.push(e.name + ':' + e.data.type + ':closed=' + (socket.closedWith !== null));",
    )
    .call2(&JsValue::NULL, &socket, &seen)
    .unwrap();
    call(&tim, "on", &["kickedOut".into(), listener]);
    let kicked = r#"{"type":"kicked","kickType":"multipleAccount","platform":"web","time":1700000000001}"#;
    fire(&socket, "onmessage", object(&[("data", kicked.into())]));
    assert_eq!(
        seen.to_vec(),
        vec![JsValue::from("kickedOut:multipleAccount:closed=false")]
    );
    assert_eq!(
        get(&socket, "closedWith").as_f64(),
        Some(1000.0),
        "closed after delivery"
    );
    assert!(get(&socket, "onmessage").is_null(), "handlers detached");
    assert_kicked_in_order(&events);
    let counts = call(&tim, "__debugCounts", &[]);
    assert_eq!(get(&counts, "sockets").as_f64(), Some(0.0));
    settle(call(&tim, "destroy", &[])).await.unwrap();
}

#[wasm_bindgen_test]
async fn frames_that_do_not_decode_and_a_dropped_socket_are_reported_not_panicked() {
    let (tim, socket, _events) = logged_in(93).await;
    fire(&socket, "onmessage", object(&[("data", "{not json".into())]));
    // The core answers an undecodable frame by closing with 4000.
    assert_eq!(get(&socket, "closedWith").as_f64(), Some(4000.0));
    let counts = call(&tim, "__debugCounts", &[]);
    assert!(get(&counts, "sockets").as_f64().unwrap() <= 1.0);
    settle(call(&tim, "destroy", &[])).await.unwrap();
    let after = call(
        &tim,
        "login",
        &[object(&[("userID", "a".into()), ("userSig", "s".into())])],
    );
    let err = settle(after).await.unwrap_err();
    assert_eq!(get(&err, "code").as_f64(), Some(8005.0));
}

#[wasm_bindgen_test]
async fn bad_arguments_reject_and_never_throw() {
    let tim = Tim::create(object(&[
        ("SDKAppID", 94.into()),
        ("serverUrl", "ws://x.invalid/ws".into()),
    ]))
    .unwrap();
    for (args, code) in [
        (JsValue::UNDEFINED, 8002.0),
        (object(&[("userSig", "s".into())]), 2002.0),
        (object(&[("userID", "a".into())]), 2003.0),
        (
            object(&[("userID", "x".repeat(40).into()), ("userSig", "s".into())]),
            7003.0,
        ),
    ] {
        let err = settle(call(&tim, "login", &[args])).await.unwrap_err();
        assert_eq!(get(&err, "code").as_f64(), Some(code));
        assert_eq!(get(&err, "name").as_string().as_deref(), Some("TimError"));
    }
    let err = settle(call(&tim, "logout", &[])).await.unwrap_err();
    assert_eq!(get(&err, "code").as_f64(), Some(2024.0));
    settle(call(&tim, "destroy", &[])).await.unwrap();
}

/// A WebSocket class whose `send` misbehaves as `FakeWS.mode` says: `"throw"` throws; `"fail"` reports
/// the failure at once from inside `send`, firing `onerror` then `onclose` (as the mini-program adapter
/// does); anything else records the frame.
fn failing_websocket() -> Function {
    Function::new_no_args(
        "return class FakeWS {
            constructor(url) { this.url = url; this.sent = []; this.closedWith = null; FakeWS.last = this; }
            send(text) {
                if (FakeWS.mode === 'throw') throw new Error('send refused');
                if (FakeWS.mode === 'fail') {
                    if (this.onerror) this.onerror({ message: 'send failed' });
                    if (this.onclose) this.onclose({ code: 1006, reason: 'send failed' });
                    return;
                }
                this.sent.push(text);
            }
            close(code) { this.closedWith = code; }
        };",
    )
    .call0(&JsValue::NULL)
    .unwrap()
    .unchecked_into()
}

/// A `send` that throws or that fires `error` and `close` from inside itself fails that login (2800)
/// without a panic ("RefCell already borrowed"); the instance survives, and a later login works.
#[wasm_bindgen_test]
async fn a_send_that_throws_or_calls_back_at_once_fails_the_login_and_the_instance_survives() {
    for (app, mode) in [(96u32, "throw"), (97, "fail")] {
        let ctor = failing_websocket();
        let options = object(&[
            ("SDKAppID", app.into()),
            ("serverUrl", "ws://fake.invalid/ws".into()),
            ("WebSocket", ctor.clone().into()),
        ]);
        let tim = Tim::create(options).unwrap();
        call(&tim, "setLogLevel", &[4.into()]);
        let credentials = || object(&[("userID", "alice".into()), ("userSig", "sig".into())]);
        Reflect::set(&ctor, &"mode".into(), &mode.into()).unwrap();
        let login = call(&tim, "login", &[credentials()]);
        fire(&get(&ctor, "last"), "onopen", JsValue::UNDEFINED);
        let err = settle(login).await.unwrap_err();
        assert_eq!(get(&err, "code").as_f64(), Some(2800.0), "{mode}");
        assert_eq!(call(&tim, "isReady", &[]).as_bool(), Some(false), "{mode}");
        let counts = call(&tim, "__debugCounts", &[]);
        assert_eq!(
            get(&counts, "sockets").as_f64(),
            Some(0.0),
            "{mode}: the failed socket is released"
        );

        Reflect::set(&ctor, &"mode".into(), &"ok".into()).unwrap();
        let login = call(&tim, "login", &[credentials()]);
        let socket = get(&ctor, "last");
        fire(&socket, "onopen", JsValue::UNDEFINED);
        let frame = sent_frame(&socket, 0);
        fire(&socket, "onmessage", login_ack(get(&frame, "id").as_f64().unwrap()));
        let response = settle(login).await.unwrap();
        assert_eq!(get(&response, "code").as_f64(), Some(0.0), "{mode}");
        assert_eq!(call(&tim, "isReady", &[]).as_bool(), Some(true), "{mode}");

        // Once ready, a send that fails at once (a heartbeat, a logout) is a dropped connection.
        Reflect::set(&ctor, &"mode".into(), &mode.into()).unwrap();
        let logout = call(&tim, "logout", &[]);
        assert_eq!(
            get(&settle(logout).await.unwrap(), "code").as_f64(),
            Some(0.0),
            "{mode}"
        );
        assert_eq!(call(&tim, "isReady", &[]).as_bool(), Some(false), "{mode}");
        settle(call(&tim, "destroy", &[])).await.unwrap();
    }
}

/// `WSS://` and `WS://` are URLs like any other: the scheme is case-insensitive wherever it is checked.
#[wasm_bindgen_test]
async fn an_upper_case_scheme_logs_in() {
    let ctor = fake_websocket();
    let options = object(&[
        ("SDKAppID", 98.into()),
        ("serverUrl", "WSS://fake.invalid/ws".into()),
        ("WebSocket", ctor.clone().into()),
    ]);
    let tim = Tim::create(options).unwrap();
    call(&tim, "setLogLevel", &[4.into()]);
    let login = call(
        &tim,
        "login",
        &[object(&[("userID", "alice".into()), ("userSig", "sig".into())])],
    );
    let socket = get(&ctor, "last");
    assert_eq!(
        get(&socket, "url").as_string().as_deref(),
        Some("WSS://fake.invalid/ws")
    );
    fire(&socket, "onopen", JsValue::UNDEFINED);
    let frame = sent_frame(&socket, 0);
    fire(&socket, "onmessage", login_ack(get(&frame, "id").as_f64().unwrap()));
    assert_eq!(get(&settle(login).await.unwrap(), "code").as_f64(), Some(0.0));
    settle(call(&tim, "destroy", &[])).await.unwrap();
}

/// An `error` reply with code 0 (0 means success to callers) is a protocol error, not a rejection
/// with code 0; a reply with a number beyond 2^53-1 is one too.
#[wasm_bindgen_test]
async fn an_error_frame_with_code_0_rejects_the_login_with_8007() {
    for (app, reply) in [
        (99u32, r#"{"type":"error","id":ID,"code":0,"message":"zero"}"#),
        (
            100,
            r#"{"type":"loginAck","id":ID,"instanceId":"i","helloIntervalMs":1,"serverTimeMs":1,"userSigExpireAt":9007199254740992}"#,
        ),
    ] {
        let ctor = fake_websocket();
        let options = object(&[
            ("SDKAppID", app.into()),
            ("serverUrl", "ws://fake.invalid/ws".into()),
            ("WebSocket", ctor.clone().into()),
        ]);
        let tim = Tim::create(options).unwrap();
        call(&tim, "setLogLevel", &[4.into()]);
        let login = call(
            &tim,
            "login",
            &[object(&[("userID", "alice".into()), ("userSig", "sig".into())])],
        );
        let socket = get(&ctor, "last");
        fire(&socket, "onopen", JsValue::UNDEFINED);
        let id = get(&sent_frame(&socket, 0), "id").as_f64().unwrap();
        let text = reply.replace("ID", &(id as u32).to_string());
        fire(&socket, "onmessage", object(&[("data", text.into())]));
        let err = settle(login).await.unwrap_err();
        assert_eq!(get(&err, "code").as_f64(), Some(8007.0), "{reply}");
        settle(call(&tim, "destroy", &[])).await.unwrap();
    }
}
