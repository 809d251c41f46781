//! `cargo xtask build`: the npm package in `pkg/` (arrives with the SDK issue).

use crate::util::Result;

pub fn run(_args: &[String]) -> Result {
    Err("`cargo xtask build` is not built yet: it arrives with the SDK issue".into())
}
