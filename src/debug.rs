//! Counters of live resources, for leak tests (`tim.__debugCounts()`, documented as internal).

use std::cell::Cell;

thread_local! {
    static LIVE_CLOSURES: Cell<i64> = const { Cell::new(0) };
    static LIVE_SOCKETS: Cell<i64> = const { Cell::new(0) };
}

/// A closure was handed to JS by an owner.
pub fn closure_created(n: i64) {
    LIVE_CLOSURES.with(|c| c.set(c.get() + n));
}

/// An owner dropped closures it had handed to JS.
pub fn closure_dropped(n: i64) {
    LIVE_CLOSURES.with(|c| c.set(c.get() - n));
}

/// A socket object was created.
pub fn socket_created() {
    LIVE_SOCKETS.with(|c| c.set(c.get() + 1));
}

/// A socket's owner was dropped.
pub fn socket_dropped() {
    LIVE_SOCKETS.with(|c| c.set(c.get() - 1));
}

/// Closures currently handed to JS, over all instances.
pub fn live_closures() -> i64 {
    LIVE_CLOSURES.with(Cell::get)
}

/// Socket owners alive, over all instances.
pub fn live_sockets() -> i64 {
    LIVE_SOCKETS.with(Cell::get)
}
