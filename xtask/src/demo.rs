//! `cargo xtask demo`: builds what is missing, starts `tim-server --dev`, serves `www-demo/` and the built
//! package on one local address, prints the URL and what to try, and stops cleanly on Ctrl-C.
//!
//! Options: `--port N` (default 8700, or a free port when 8700 is taken; `--port 0` always picks a free one),
//! `--no-build` (use the `pkg/` and `tim-server` already built), `--dev-key KEY` (a fixed secret key, so
//! UserSigs stay valid across restarts), `--browser-test` (run the browser test instead of serving).
//!
//! [`browser_test`] runs `tests/browser/` (Playwright driving Debian's Chromium) against the same setup.

mod page_server;
mod tim_server;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use serde_json::{json, Value};

use crate::install;
use crate::util::{self, root, Result};
use page_server::Site;
use tim_server::TimServer;

/// The port the demo page uses unless told otherwise.
const DEFAULT_PORT: u16 = 8700;

struct Options {
    port: Option<u16>,
    build: bool,
    dev_key: Option<String>,
    browser_test: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        port: None,
        build: true,
        dev_key: None,
        browser_test: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let value = args.next().ok_or("--port needs a number")?;
                options.port = Some(value.parse().map_err(|_| format!("--port: `{value}` is not a port"))?);
            }
            "--no-build" => options.build = false,
            "--browser-test" => options.browser_test = true,
            "--dev-key" => options.dev_key = Some(args.next().ok_or("--dev-key needs a key")?.clone()),
            "--help" | "-h" => {
                println!("usage: cargo xtask demo [--port N] [--no-build] [--dev-key KEY] [--browser-test]");
                std::process::exit(0);
            }
            other => return Err(format!("demo: unknown option `{other}`; try `cargo xtask demo --help`").into()),
        }
    }
    Ok(options)
}

/// `cargo xtask demo [--port N] [--no-build] [--dev-key KEY] [--browser-test]`.
pub fn run(args: &[String]) -> Result {
    let options = parse(args)?;
    if options.browser_test {
        return browser_test();
    }
    if options.build {
        prepare()?;
    }
    let demo = Demo::start(options.port, options.dev_key.as_deref(), None)?;
    let (stop_tx, stop_rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })?;
    print_welcome(&demo);
    let mut demo = demo;
    loop {
        if stop_rx.recv_timeout(Duration::from_millis(500)).is_ok() {
            println!("\nstopping the demo: tim-server and the page server are shut down");
            demo.server.stop();
            return Ok(());
        }
        if let Some(status) = demo.server.exited() {
            return Err(format!("tim-server stopped unexpectedly ({status}); the demo stops too").into());
        }
    }
}

/// Builds everything the demo needs, saying what: Rust target, wasm-bindgen-cli, npm tools, the package,
/// the server.
pub fn prepare() -> Result {
    util::step("checking what the demo needs");
    install::wasm_target()?;
    install::wasm_bindgen_cli()?;
    install::npm_tools()?;
    util::step("building the npm package into pkg/ (cargo xtask build)");
    crate::build::run(&[])?;
    util::step("building tim-server (cargo build -p tim-server)");
    util::run(util::cargo().args(["build", "-p", "tim-server"]))
}

/// The running demo: `tim-server --dev` plus the page server.
struct Demo {
    server: TimServer,
    page_url: String,
}

impl Demo {
    /// Starts the server and the page server (on a background thread); `port` None means the default
    /// port, or any free port if that one is taken; `log_filter` is the server's `RUST_LOG`.
    fn start(port: Option<u16>, dev_key: Option<&str>, log_filter: Option<&str>) -> Result<Demo> {
        let root = root();
        let bin = tim_server::binary()?;
        if !bin.is_file() {
            return Err(format!("{} is missing: run `cargo build -p tim-server`", bin.display()).into());
        }
        if !root.join("pkg").join("package.json").is_file() {
            return Err("pkg/ holds no built package: run `cargo xtask build` (or drop --no-build)".into());
        }
        let listener = bind(port)?;
        let addr = listener.local_addr()?;
        let server = TimServer::start(&bin, &format!("http://{addr}"), dev_key, log_filter)?;
        let config = page_config(&server);
        let pkg = root.join("pkg");
        let pkg_for_config = pkg.clone();
        let site = Site {
            www: root.join("www-demo"),
            pkg,
            config: Arc::new(move || config_json(&config, &pkg_for_config)),
        };
        page_server::spawn(listener, site)?;
        Ok(Demo {
            server,
            page_url: format!("http://{addr}"),
        })
    }
}

fn bind(port: Option<u16>) -> Result<TcpListener> {
    let at = |port: u16| TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)));
    match port {
        Some(port) => at(port).map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}").into()),
        None => at(DEFAULT_PORT).or_else(|e| {
            println!("port {DEFAULT_PORT} is taken ({e}); using a free port instead");
            at(0).map_err(Into::into)
        }),
    }
}

/// What the page learns from `/config.json`, apart from the package entry.
fn page_config(server: &TimServer) -> Value {
    json!({
        "serverUrl": server.ws_url,
        "httpUrl": server.http_url,
        "SDKAppID": server.sdk_app_id,
        "admin": server.admin,
    })
}

/// `/config.json`: the server facts plus `sdkModule`, the package's browser ESM entry (or null when
/// `pkg/` holds no package).
fn config_json(base: &Value, pkg: &Path) -> String {
    let mut config = base.clone();
    config["sdkModule"] = match browser_entry(pkg) {
        Some(entry) => json!(format!("/pkg/{}", entry.trim_start_matches("./"))),
        None => Value::Null,
    };
    config.to_string()
}

/// The browser ESM entry named by `pkg/package.json` (as the size budget finds it).
fn browser_entry(pkg: &Path) -> Option<String> {
    crate::browser_files::browser_entry_of(pkg).ok().flatten()
}

fn print_welcome(demo: &Demo) {
    let s = &demo.server;
    println!(
        "\n==> the tim-wasm demo is running\n\n\
         \x20   open {url}\n\n\
         \x20   tim-server (dev mode): {ws}\n\
         \x20   SDKAppID {app}, Online Web Instances 1, admin {admin}\n\n\
         What to try:\n\
         \x20 1. Open the page in two tabs and log in as the same user in both: the first tab is kicked out\n\
         \x20    (KICKED_OUT multipleAccount, then SDK_NOT_READY).\n\
         \x20 2. Set Online Web Instances to 2 and log in again in both tabs: both stay ready.\n\
         \x20 3. Log out in one tab: the other stays ready.\n\n\
         Ctrl-C stops the demo and tim-server. The server's log (logins, kicks, admin calls) follows.\n",
        url = demo.page_url,
        ws = s.ws_url,
        app = s.sdk_app_id,
        admin = s.admin,
    );
}

/// The browser test: builds what is needed, starts the demo on a free port, and runs
/// `node --test tests/browser/` with `TIM_DEMO_URL` set (Playwright drives `/usr/bin/chromium`).
/// Screenshots go to `test-output/browser/`.
pub fn browser_test() -> Result {
    install::apt(&["chromium"])?;
    prepare()?;
    // The server's warnings still show; its per-login info lines would drown the test report.
    let mut demo = Demo::start(Some(0), None, Some("warn"))?;
    util::step(&format!(
        "browser test (node --test tests/browser/demo.test.mjs) against {}",
        demo.page_url
    ));
    let result = util::run(
        Command::new("node")
            .args(["--test", "--test-concurrency=1", "tests/browser/demo.test.mjs"])
            .env("TIM_DEMO_URL", &demo.page_url)
            .current_dir(root()),
    );
    demo.server.stop();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_entry_prefers_the_browser_condition() {
        let manifest = json!({
            "main": "./node/index.cjs",
            "exports": {".": {"node": {"import": "./node/index.mjs"}, "browser": "./web/tim.js"}}
        });
        let dir = std::env::temp_dir().join(format!("xtask-demo-entry-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("package.json"), manifest.to_string()).unwrap();
        assert_eq!(browser_entry(&dir).as_deref(), Some("./web/tim.js"));
        std::fs::write(dir.join("package.json"), json!({"module": "tim.js"}).to_string()).unwrap();
        assert_eq!(browser_entry(&dir).as_deref(), Some("tim.js"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
