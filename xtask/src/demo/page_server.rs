//! The demo's page server: `www-demo/` at `/`, the built package `pkg/` at `/pkg/`, and the generated
//! `/config.json` that tells the page where `tim-server` is, on one address.
//!
//! tower-http's `ServeDir` serves the files (GET and HEAD, content types, percent-decoding, and refusing
//! any path that would leave its folder); every reply carries `Cache-Control: no-store`, so a rebuilt
//! package is picked up on reload.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::HeaderValue;
use axum::routing::get;
use axum::Router;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::util::Result;

/// What the server serves.
pub struct Site {
    /// The page's folder (`www-demo/`).
    pub www: PathBuf,
    /// The npm package folder (`pkg/`), served under `/pkg/`.
    pub pkg: PathBuf,
    /// Builds the body of `/config.json` on each request (so a rebuilt package is seen at once).
    pub config: Arc<dyn Fn() -> String + Send + Sync>,
}

/// The routes: `/config.json`, `/pkg/…` from the package folder, everything else from the page's folder.
fn router(site: Site) -> Router {
    let config = site.config;
    Router::new()
        .route(
            "/config.json",
            get(move || {
                let body = config();
                async move { ([(CONTENT_TYPE, "application/json")], body) }
            }),
        )
        .nest_service("/pkg", ServeDir::new(site.pkg))
        .fallback_service(ServeDir::new(site.www))
        .layer(SetResponseHeaderLayer::overriding(
            CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}

/// Serves `site` on `listener` from a background thread with its own single-threaded tokio runtime;
/// it runs until the process exits.
pub fn spawn(listener: TcpListener, site: Site) -> Result {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    let listener = {
        let _entered = runtime.enter();
        tokio::net::TcpListener::from_std(listener)?
    };
    std::thread::spawn(move || {
        if let Err(e) = runtime.block_on(async { axum::serve(listener, router(site)).await }) {
            eprintln!("xtask demo: the page server stopped: {e}");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};

    use super::*;

    /// Sends one raw request (so that no client tidies the path first) and returns the reply's head and
    /// body.
    fn fetch(addr: SocketAddr, method: &str, target: &str) -> (String, String) {
        let mut stream = TcpStream::connect(addr).unwrap();
        let request = format!("{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).unwrap();
        let reply = String::from_utf8_lossy(&reply).into_owned();
        let (head, body) = reply.split_once("\r\n\r\n").unwrap();
        (head.to_ascii_lowercase(), body.to_owned())
    }

    #[test]
    fn serves_page_package_and_config_and_nothing_outside_them() {
        let dir = std::env::temp_dir().join(format!("xtask-pages-{}", std::process::id()));
        let (www, pkg) = (dir.join("www"), dir.join("pkg"));
        std::fs::create_dir_all(&www).unwrap();
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(www.join("index.html"), "<h1>demo</h1>").unwrap();
        std::fs::write(www.join("app.js"), "go()").unwrap();
        std::fs::write(pkg.join("tim.wasm"), b"\0asm").unwrap();
        std::fs::write(pkg.join("index.mjs"), "export {}").unwrap();
        std::fs::write(dir.join("secret.txt"), "TOP-SECRET").unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let site = Site {
            www,
            pkg,
            config: Arc::new(|| r#"{"ok":true}"#.to_owned()),
        };
        spawn(listener, site).unwrap();

        let (head, body) = fetch(addr, "GET", "/");
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("content-type: text/html"), "{head}");
        assert!(head.contains("cache-control: no-store"), "{head}");
        assert_eq!(body, "<h1>demo</h1>");
        for (target, content_type, want) in [
            ("/pkg/tim.wasm?v=1", "application/wasm", "\0asm"),
            // Both are JavaScript MIME types (mime_guess's), which browsers require of module scripts.
            ("/pkg/index.mjs", "application/javascript", "export {}"),
            ("/app.js", "text/javascript", "go()"),
            ("/config.json", "application/json", r#"{"ok":true}"#),
        ] {
            let (head, body) = fetch(addr, "GET", target);
            assert!(head.starts_with("http/1.1 200"), "{target}: {head}");
            assert!(
                head.contains(&format!("content-type: {content_type}")),
                "{target}: {head}"
            );
            assert!(head.contains("x-content-type-options: nosniff"), "{target}: {head}");
            assert_eq!(body, want, "{target}");
        }
        let (head, body) = fetch(addr, "HEAD", "/");
        assert!(head.contains("content-length: 13"), "{head}");
        assert_eq!(body, "");
        let (head, _) = fetch(addr, "POST", "/");
        assert!(head.starts_with("http/1.1 405"), "{head}");
        let (head, _) = fetch(addr, "GET", "/missing.js");
        assert!(head.starts_with("http/1.1 404"), "{head}");
        for target in [
            "/../secret.txt",
            "/pkg/../secret.txt",
            "/pkg/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/pkg/%2e%2e/secret.txt",
            "/pkg/%2E%2E%2fsecret.txt",
            "/..%2fsecret.txt",
            "/pkg/..%5csecret.txt",
            "/%2e%2e%2f%2e%2e%2fsecret.txt",
            "//..//secret.txt",
            "/a%00b",
        ] {
            let (head, body) = fetch(addr, "GET", target);
            assert!(head.starts_with("http/1.1 4"), "{target} is refused: {head}");
            assert!(
                !body.contains("TOP-SECRET"),
                "{target} leaked the file outside the site"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
