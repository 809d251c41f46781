//! The demo's tiny static HTTP server (std only): serves `www-demo/` at `/`, the built package `pkg/` at
//! `/pkg/`, and the generated `/config.json` that tells the page where `tim-server` is.
//!
//! GET and HEAD only, one thread per connection, `Connection: close`, no caching (a rebuilt package is
//! picked up on reload). Paths are percent-decoded and then refused when any segment is empty-dot, `..`,
//! hidden (`.git`), or holds a backslash or NUL, so nothing outside the two folders can be read.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Largest request head accepted (request line plus headers).
const MAX_HEAD_BYTES: u64 = 16 * 1024;

/// What the server serves.
pub struct Site {
    /// The page's folder (`www-demo/`).
    pub www: PathBuf,
    /// The npm package folder (`pkg/`), served under `/pkg/`.
    pub pkg: PathBuf,
    /// Builds the body of `/config.json` on each request (so a rebuilt package is seen at once).
    pub config: Box<dyn Fn() -> String + Send + Sync>,
}

/// Serves `site` on `listener` forever, one thread per connection.
pub fn serve(listener: TcpListener, site: Site) {
    let site = Arc::new(site);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let site = Arc::clone(&site);
        std::thread::spawn(move || {
            // A client that goes away mid-reply is not our problem.
            let _ = handle(stream, &site);
        });
    }
}

fn handle(stream: TcpStream, site: &Site) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new((&stream).take(MAX_HEAD_BYTES));
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Drain the headers: we need none of them.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let head_only = method == "HEAD";
    let reply = if method != "GET" && !head_only {
        Reply::text(405, "Method Not Allowed", "only GET and HEAD\n")
    } else {
        route(site, target)
    };
    reply.write(&mut &stream, head_only)
}

fn route(site: &Site, target: &str) -> Reply {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let Some(segments) = safe_segments(path) else {
        return Reply::text(400, "Bad Request", "bad path\n");
    };
    let file = match segments.as_slice() {
        [] => site.www.join("index.html"),
        [one] if one == "config.json" => {
            return Reply {
                status: 200,
                reason: "OK",
                content_type: "application/json",
                body: (site.config)().into_bytes(),
            }
        }
        [first, rest @ ..] if first == "pkg" => join(&site.pkg, rest),
        all => join(&site.www, all),
    };
    match std::fs::read(&file) {
        Ok(body) if file.is_file() => Reply {
            status: 200,
            reason: "OK",
            content_type: mime_type(&file),
            body,
        },
        _ => Reply::text(404, "Not Found", &format!("not found: {path}\n")),
    }
}

fn join(base: &Path, segments: &[String]) -> PathBuf {
    segments.iter().fold(base.to_path_buf(), |p, s| p.join(s))
}

/// The decoded, checked segments of a URL path; `None` when the path is not acceptable.
pub fn safe_segments(path: &str) -> Option<Vec<String>> {
    if !path.starts_with('/') {
        return None;
    }
    let decoded = percent_decode(path)?;
    let mut segments = Vec::new();
    for segment in decoded.split('/') {
        if segment.is_empty() {
            continue;
        }
        if segment.starts_with('.') || segment.contains(['\\', '\0']) {
            return None;
        }
        segments.push(segment.to_owned());
    }
    Some(segments)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The `Content-Type` for a file, by extension (browsers refuse module scripts and streamed wasm without
/// the right one).
pub fn mime_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" | "cjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" | "md" | "ts" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

struct Reply {
    status: u16,
    reason: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
}

impl Reply {
    fn text(status: u16, reason: &'static str, body: &str) -> Reply {
        Reply {
            status,
            reason,
            content_type: "text/plain; charset=utf-8",
            body: body.as_bytes().to_vec(),
        }
    }

    fn write(&self, out: &mut impl Write, head_only: bool) -> std::io::Result<()> {
        write!(
            out,
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
             X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
            self.status,
            self.reason,
            self.content_type,
            self.body.len()
        )?;
        if !head_only {
            out.write_all(&self.body)?;
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_hidden_paths_are_refused() {
        for bad in [
            "/../Cargo.toml",
            "/pkg/../../etc/passwd",
            "/%2e%2e/Cargo.toml",
            "/pkg/%2E%2E%2fsecret",
            "/.git/config",
            "/a\\..\\b",
            "/a%00b",
            "/%zz",
            "/%e9",
            "relative",
        ] {
            assert_eq!(safe_segments(bad), None, "{bad}");
        }
    }

    #[test]
    fn ordinary_paths_are_split_and_decoded() {
        assert_eq!(safe_segments("/"), Some(vec![]));
        assert_eq!(
            safe_segments("/pkg/tim_wasm_bg.wasm"),
            Some(vec!["pkg".into(), "tim_wasm_bg.wasm".into()])
        );
        assert_eq!(safe_segments("//app%20x.js"), Some(vec!["app x.js".into()]));
    }

    /// Sends one raw request to a real server on a free port; returns the reply head and body.
    fn fetch(addr: std::net::SocketAddr, request: &str) -> (String, String) {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        let (head, body) = reply.split_once("\r\n\r\n").unwrap();
        (head.to_owned(), body.to_owned())
    }

    #[test]
    fn serves_page_package_and_config_over_a_real_socket() {
        let dir = std::env::temp_dir().join(format!("xtask-static-{}", std::process::id()));
        let (www, pkg) = (dir.join("www"), dir.join("pkg"));
        std::fs::create_dir_all(&www).unwrap();
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(www.join("index.html"), "<h1>demo</h1>").unwrap();
        std::fs::write(pkg.join("tim.wasm"), b"\0asm").unwrap();
        std::fs::write(dir.join("secret.txt"), "TOP-SECRET").unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let site = Site {
            www,
            pkg,
            config: Box::new(|| r#"{"ok":true}"#.to_owned()),
        };
        std::thread::spawn(move || serve(listener, site));

        let (head, body) = fetch(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert!(head.contains("Content-Type: text/html; charset=utf-8"), "{head}");
        assert_eq!(body, "<h1>demo</h1>");
        let (head, body) = fetch(addr, "GET /pkg/tim.wasm?v=1 HTTP/1.1\r\n\r\n");
        assert!(head.contains("Content-Type: application/wasm"), "{head}");
        assert_eq!(body, "\0asm");
        let (head, body) = fetch(addr, "GET /config.json HTTP/1.1\r\n\r\n");
        assert!(head.contains("Content-Type: application/json"), "{head}");
        assert_eq!(body, r#"{"ok":true}"#);
        let (head, body) = fetch(addr, "HEAD / HTTP/1.1\r\n\r\n");
        assert!(head.contains("Content-Length: 13"), "{head}");
        assert_eq!(body, "");
        for (request, status) in [
            ("GET /pkg/%2e%2e/secret.txt HTTP/1.1\r\n\r\n", "400"),
            ("GET /../secret.txt HTTP/1.1\r\n\r\n", "400"),
            ("GET /missing.js HTTP/1.1\r\n\r\n", "404"),
            ("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "405"),
            ("garbage\r\n\r\n", "405"),
        ] {
            let (head, body) = fetch(addr, request);
            assert!(head.starts_with(&format!("HTTP/1.1 {status}")), "{request:?}: {head}");
            assert!(
                !body.contains("TOP-SECRET"),
                "{request:?} leaked the file outside the site"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn module_and_wasm_types_are_right() {
        assert_eq!(mime_type(Path::new("a/b.js")), "text/javascript; charset=utf-8");
        assert_eq!(mime_type(Path::new("x.wasm")), "application/wasm");
        assert_eq!(mime_type(Path::new("index.html")), "text/html; charset=utf-8");
        assert_eq!(mime_type(Path::new("noext")), "application/octet-stream");
    }
}
