//! `tim-server usersig gen|verify`.

use serde_json::json;

use crate::auth;
use crate::cli::{GenArgs, UsersigAction, VerifyArgs};
use crate::clock::Clock;

/// Runs a `usersig` subcommand; returns the process exit code.
pub fn run(action: &UsersigAction) -> i32 {
    match action {
        UsersigAction::Gen(args) => gen(args),
        UsersigAction::Verify(args) => verify(args),
    }
}

fn gen(args: &GenArgs) -> i32 {
    // The same rules a config's [[app]] follows: a sig for an app no server can have helps nobody.
    if tim_protocol::limits::validate_sdk_app_id(args.sdkappid).is_err() {
        eprintln!("tim-server: --sdkappid: must be an integer from 1 to 2^53-1");
        return 2;
    }
    if args.key.trim().is_empty() {
        eprintln!("tim-server: --key: must not be empty");
        return 2;
    }
    if let Err(code) = tim_protocol::limits::validate_user_id(&args.user) {
        eprintln!("tim-server: --user: {}", code.message());
        return 2;
    }
    println!(
        "{}",
        auth::generate(
            args.sdkappid,
            &args.key,
            &args.user,
            args.expire,
            Clock::system().unix_secs()
        )
    );
    0
}

fn verify(args: &VerifyArgs) -> i32 {
    let now = args.now.unwrap_or_else(|| Clock::system().unix_secs());
    match auth::verify_with_key(args.sdkappid, &args.key, &args.user, &args.sig, now) {
        Ok(_) => {
            println!("{}", json!({"ok": true}));
            0
        }
        Err(refused) => {
            // Written by hand to keep the documented key order: ok, code, error.
            let error = json!(refused.detail);
            println!("{{\"ok\":false,\"code\":{},\"error\":{error}}}", refused.code.code());
            1
        }
    }
}
