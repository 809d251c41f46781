//! `tim-wasm`: the JavaScript-facing `TIM` object over [`tim_core`].
//!
//! This crate holds no business logic: conversions, Promise plumbing, the listener registry and the
//! platform transports only. The bindings arrive with the SDK issue.
