//! `setLogLevel` and the SDK's console output.
//!
//! Levels as in the official SDK: 0 log (default), 1 info, 2 warn, 3 error, 4 none. The level is
//! shared by all instances, as the official SDK's logger is.

use std::cell::Cell;

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = log)]
    fn console_log(text: &str);
    #[wasm_bindgen(js_namespace = console, js_name = info)]
    fn console_info(text: &str);
    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    fn console_warn(text: &str);
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(text: &str);
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error_value(text: &str, value: &JsValue);
}

/// A log level (`setLogLevel(n)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// 0: everything.
    Log = 0,
    /// 1: info and above.
    Info = 1,
    /// 2: warnings and errors.
    Warn = 2,
    /// 3: errors only.
    Error = 3,
    /// 4: nothing.
    None = 4,
}

impl Level {
    /// The level for `setLogLevel(n)`, `None` for anything but an integer 0-4.
    pub fn from_number(n: f64) -> Option<Level> {
        [Level::Log, Level::Info, Level::Warn, Level::Error, Level::None]
            .into_iter()
            .find(|l| *l as u8 as f64 == n)
    }
}

thread_local! {
    static LEVEL: Cell<Level> = const { Cell::new(Level::Log) };
}

/// Sets the level for every instance.
pub fn set_level(level: Level) {
    LEVEL.with(|l| l.set(level));
}

/// Sets the level from `setLogLevel(level)` or `TIM.create({logLevel})`: an integer from 0 to 4, else
/// a warning and no change.
pub fn set_level_from(level: &JsValue) {
    match level.as_f64().and_then(Level::from_number) {
        Some(level) => set_level(level),
        None => warn(&["logLevel: the level must be an integer from 0 to 4"]),
    }
}

/// The current level.
pub fn level() -> Level {
    LEVEL.with(Cell::get)
}

fn enabled(at: Level) -> bool {
    at >= level() && at != Level::None
}

/// `TIM ` and the parts, joined (string pieces rather than `format!`: the wasm carries no `core::fmt`
/// formatting for its logs, and nothing is built below the level).
fn line(parts: &[&str]) -> String {
    let mut text = String::from("TIM ");
    for part in parts {
        text.push_str(part);
    }
    text
}

/// Logs at level 0 (`console.log`).
pub fn log(parts: &[&str]) {
    if enabled(Level::Log) {
        console_log(&line(parts));
    }
}

/// Logs at level 1 (`console.info`).
pub fn info(parts: &[&str]) {
    if enabled(Level::Info) {
        console_info(&line(parts));
    }
}

/// Logs at level 2 (`console.warn`).
pub fn warn(parts: &[&str]) {
    if enabled(Level::Warn) {
        console_warn(&line(parts));
    }
}

/// Logs at level 3 (`console.error`).
pub fn error(parts: &[&str]) {
    if enabled(Level::Error) {
        console_error(&line(parts));
    }
}

/// A panic's location and message, whatever the level (a panic is a bug to report).
pub fn panic(parts: &[&str]) {
    let mut text = line(&["panic: "]);
    for part in parts {
        text.push_str(part);
    }
    console_error(&text);
}

/// Logs at level 3 with a JS value (an exception) after the text, so the console shows its stack.
pub fn error_value(parts: &[&str], value: &JsValue) {
    if enabled(Level::Error) {
        console_error_value(&line(parts), value);
    }
}

/// `n` in decimal, for log parts.
pub fn num(n: u64) -> String {
    tim_protocol::decimal(n)
}
