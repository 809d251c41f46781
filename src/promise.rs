//! Promise plumbing: one JS Promise per command handle, settled when the core completes the command.

use js_sys::{Function, Promise};
use tim_core::{Handle, Response, TimError};
use wasm_bindgen::prelude::*;

use crate::{convert, error};

/// The resolve/reject pair of a Promise returned to JS.
#[derive(Debug)]
struct Settle {
    resolve: Function,
    reject: Function,
    /// The message object given to `sendMessage(message)`: settled in place and returned.
    message: Option<JsValue>,
}

/// The Promises of one instance still waiting for their command to complete (a list: few wait at
/// once, and a hash map's code is not worth its size in the wasm).
#[derive(Debug, Default)]
pub struct Pending {
    waiting: Vec<(Handle, Settle)>,
}

impl Pending {
    /// A new Promise for `handle`; settle it later with [`Pending::take`] and [`Settler::settle`].
    /// `message` is the JS message object of a `sendMessage(message)` call, if any.
    pub fn register(&mut self, handle: Handle, message: Option<JsValue>) -> Promise {
        let mut slot = None;
        // The executor runs synchronously inside `new Promise`, so a stack closure suffices.
        let promise = Promise::new(&mut |resolve, reject| {
            slot = Some(Settle {
                resolve,
                reject,
                message: message.clone(),
            })
        });
        if let Some(settle) = slot {
            self.waiting.push((handle, settle));
        }
        promise
    }

    /// Removes the Promise of `handle` to settle it once no borrow is held.
    pub fn take(&mut self, handle: Handle) -> Option<Settler> {
        let at = self.waiting.iter().position(|(h, _)| *h == handle)?;
        Some(Settler(self.waiting.swap_remove(at).1))
    }

    /// Promises still waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// True when no Promise is waiting.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

/// A Promise taken out of [`Pending`], ready to be settled.
#[derive(Debug)]
pub struct Settler(Settle);

impl Settler {
    /// Resolves with `imResponse` or rejects with `imError`. A `sendMessage(message)` call settles its
    /// message object in place: the sent message's fields on success, `status: 'fail'` (and
    /// `imError.data.message`) on failure.
    pub fn settle(self, result: &Result<Response, TimError>) {
        let Settle {
            resolve,
            reject,
            message,
        } = self.0;
        // resolve/reject of a native Promise never throw.
        let _ = match (result, message) {
            (Ok(Response::SendMessage { message: sent }), Some(target)) => {
                convert::assign_message(&target, sent);
                let data = convert::send_message_data(target, sent);
                resolve.call1(&JsValue::UNDEFINED, &convert::response(data))
            }
            (Ok(response), _) => resolve.call1(&JsValue::UNDEFINED, &convert::im_response(response)),
            (Err(e), target) => {
                let js = error::to_js(e);
                if let Some(target) = target {
                    convert::mark_failed(&target);
                    error::set_data(&js, convert::object(&[("message", target)]));
                }
                reject.call1(&JsValue::UNDEFINED, &js)
            }
        };
    }
}

/// A Promise already rejected with `error` (bad arguments: rejected, never thrown).
pub fn rejected(error: JsValue) -> Promise {
    Promise::reject(&error)
}
