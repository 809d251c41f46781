//! The app backend's `State.StateChange` callback, in the vendor's shape.
//!
//! Each transition is emitted by the one node that performed the registry operation causing it (the
//! admitting node sends `Login`, the node whose connection logged out or timed out, or whose grace sweep
//! freed the instance, sends `Logout` / `Disconnect`), so that with a shared registry every transition
//! is sent once, not once per node.
//!
//! Each app has its own [`AppCallbacks`]: [`AppCallbacks::emit`] never waits: it appends to the app's
//! bounded queue (a full queue drops the oldest event and counts it) and wakes the app's worker task,
//! which POSTs the events in order over a pooled keep-alive connection (`http://` or `https://`), retrying
//! with backoff until the backend answers 2xx or the attempts run out. A slow or dead backend therefore
//! never slows a login, and delays only its own app's callbacks.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Uri;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tim_protocol::Platform;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::metrics::Metrics;

/// The callback command of every state change.
pub const STATE_CHANGE: &str = "State.StateChange";

/// `OptPlatform` of a transition an administrator caused through the REST API.
pub const REST_API_PLATFORM: &str = "RESTAPI";

/// What happened, as `Info.Action` / `Info.Reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// `Login` / `Register`: a fresh login (not a resume).
    Login,
    /// `Logout` / `Unregister`: the client logged out.
    Logout,
    /// `Logout` / `Kicked`: an administrator kicked the account (REST API).
    RestKick,
    /// `Logout` / `UserSigExpired`: the UserSig expired while online.
    UserSigExpired,
    /// `Disconnect` / `LinkClose`: the socket closed and the resume grace ran out.
    LinkClose,
    /// `Disconnect` / `TimeOut`: no heartbeat within the idle timeout.
    TimeOut,
}

impl Transition {
    /// `(Action, Reason)`.
    pub fn action_reason(self) -> (&'static str, &'static str) {
        match self {
            Transition::Login => ("Login", "Register"),
            Transition::Logout => ("Logout", "Unregister"),
            Transition::RestKick => ("Logout", "Kicked"),
            Transition::UserSigExpired => ("Logout", "UserSigExpired"),
            Transition::LinkClose => ("Disconnect", "LinkClose"),
            Transition::TimeOut => ("Disconnect", "TimeOut"),
        }
    }
}

/// Where an app's callbacks go (`callback_url`, `callback_token` of its `[[app]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackTarget {
    /// `http://host:port/path[?query]`.
    pub url: String,
    /// When set, `RequestTime` and `Sign = hex(sha256(token + RequestTime))` are added to the query.
    pub token: Option<String>,
}

/// One state change of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// Where to send it.
    pub target: Arc<CallbackTarget>,
    /// SDKAppID.
    pub sdk_app_id: u64,
    /// `To_Account`.
    pub user_id: String,
    /// Action and reason.
    pub transition: Transition,
    /// `OptPlatform`: the instance's platform name, or [`REST_API_PLATFORM`].
    pub opt_platform: &'static str,
    /// `ClientIP`: the client's address when the emitting node knows it (empty otherwise).
    pub client_ip: Option<IpAddr>,
    /// `EventTime`, Unix milliseconds.
    pub event_time_ms: u64,
    /// On a login: the platforms of the instances it evicted (`KickedDevice`).
    pub kicked: Vec<Platform>,
}

impl StateChange {
    /// The JSON body.
    pub fn body(&self) -> Value {
        let (action, reason) = self.transition.action_reason();
        let mut body = json!({
            "CallbackCommand": STATE_CHANGE,
            "EventTime": self.event_time_ms,
            "Info": {"Action": action, "To_Account": self.user_id, "Reason": reason},
        });
        if self.transition == Transition::Login {
            let kicked: Vec<Value> = self.kicked.iter().map(|p| json!({"Platform": p.as_str()})).collect();
            body["KickedDevice"] = Value::Array(kicked);
        }
        body
    }

    /// The request target: `callback_url` plus the vendor's query parameters, signed at `request_time`.
    pub fn url(&self, request_time: u64) -> String {
        let ip = self.client_ip.map(|ip| ip.to_string()).unwrap_or_default();
        let sep = if self.target.url.contains('?') { '&' } else { '?' };
        let mut url = format!(
            "{}{sep}SdkAppid={}&CallbackCommand={STATE_CHANGE}&contenttype=json&ClientIP={}&OptPlatform={}",
            self.target.url,
            self.sdk_app_id,
            query_escape(&ip),
            self.opt_platform
        );
        if let Some(token) = &self.target.token {
            url += &format!("&RequestTime={request_time}&Sign={}", sign(token, request_time));
        }
        url
    }
}

/// `hex(sha256(token + RequestTime))`, the vendor's callback signature.
pub fn sign(token: &str, request_time: u64) -> String {
    let digest = Sha256::digest(format!("{token}{request_time}").as_bytes());
    tim_protocol::hex::lower(&digest)
}

fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Delivery settings (`[limits]` `callback_*`), the same for every app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Events of one app held waiting for delivery; beyond it the oldest is dropped.
    pub queue: usize,
    /// Attempts per event (the first included).
    pub max_attempts: u32,
    /// Wait before the first retry; doubles after each, up to 30 s.
    pub backoff: Duration,
    /// One attempt (connect, TLS, send, read the answer) fails after this long.
    pub timeout: Duration,
}

/// How long a kept-alive connection to a backend may sit unused before it is closed (shorter than the
/// keep-alive timeouts of common servers, so that an idle connection is rarely reused just as the
/// backend closes it; a request that hits one anyway fails and is retried like any other failure).
const POOL_IDLE: Duration = Duration::from_secs(30);

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One app's callback queue, its worker and its connection pool. Each app has its own, so a backend
/// that hangs or refuses delays (and, past the queue, drops) only its own app's callbacks.
pub struct AppCallbacks {
    sdk_app_id: u64,
    policy: DeliveryPolicy,
    queue: Mutex<VecDeque<StateChange>>,
    wake: Notify,
    client: HttpsClient,
}

impl std::fmt::Debug for AppCallbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCallbacks")
            .field("sdk_app_id", &self.sdk_app_id)
            .field("policy", &self.policy)
            .field("pending", &self.pending())
            .finish()
    }
}

impl AppCallbacks {
    /// An empty queue for the app `sdk_app_id`, whose HTTPS connections trust the webpki roots and
    /// `extra_roots` (its `callback_ca_file`); [`AppCallbacks::run`] must be spawned to deliver.
    pub fn new(sdk_app_id: u64, policy: DeliveryPolicy, extra_roots: &[CertificateDer<'static>]) -> AppCallbacks {
        AppCallbacks {
            sdk_app_id,
            policy,
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            client: client(extra_roots),
        }
    }

    /// Queues an event without waiting; a full queue drops its oldest event.
    pub fn emit(&self, event: StateChange, metrics: &Metrics) {
        let dropped = {
            let mut queue = self.lock();
            let dropped = if queue.len() >= self.policy.queue.max(1) {
                queue.pop_front()
            } else {
                None
            };
            queue.push_back(event);
            dropped
        };
        if let Some(old) = dropped {
            metrics.callback(self.sdk_app_id, "dropped");
            tracing::warn!(app = self.sdk_app_id, user = %old.user_id, "callback queue full: oldest state change dropped");
        }
        self.wake.notify_one();
    }

    /// Events waiting now.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    /// The worker: delivers queued events one at a time, in order, forever; `clock` dates the requests.
    pub async fn run(&self, metrics: &Metrics, clock: Clock) {
        loop {
            let next = self.lock().pop_front();
            match next {
                Some(event) => self.deliver(&event, metrics, clock).await,
                None => self.wake.notified().await,
            }
        }
    }

    async fn deliver(&self, event: &StateChange, metrics: &Metrics, clock: Clock) {
        let app = self.sdk_app_id;
        let body = Bytes::from(event.body().to_string());
        let mut backoff = self.policy.backoff;
        for attempt in 1..=self.policy.max_attempts.max(1) {
            let url = event.url(clock.unix_secs());
            match tokio::time::timeout(self.policy.timeout, self.post(&url, body.clone())).await {
                Ok(Ok(status)) if (200..300).contains(&status) => {
                    metrics.callback(app, "delivered");
                    return;
                }
                Ok(Ok(status)) => tracing::warn!(app, %url, status, attempt, "callback refused by the app backend"),
                Ok(Err(e)) => tracing::warn!(app, %url, error = %chain(&*e), attempt, "callback failed"),
                Err(_) => tracing::warn!(app, %url, attempt, "callback timed out"),
            }
            if attempt < self.policy.max_attempts {
                metrics.callback(app, "retried");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
        metrics.callback(app, "failed");
    }

    /// One POST of a JSON body on a pooled keep-alive connection (opened when none is idle); returns the
    /// status code. The answer is read to its end so that the connection goes back to the pool.
    async fn post(&self, url: &str, body: Bytes) -> Result<u16, BoxError> {
        let uri: Uri = url.parse()?;
        let request = hyper::Request::post(uri)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))?;
        let response = self.client.request(request).await?;
        let status = response.status().as_u16();
        response.into_body().collect().await?;
        Ok(status)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<StateChange>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An error with its causes (hyper-util's own message is only "client error (Connect)"; the cause says
/// "Connection refused" or "invalid peer certificate: UnknownIssuer").
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text += ": ";
        text += &cause.to_string();
        source = cause.source();
    }
    text
}

/// A pooled HTTP/1.1 client for `http://` and `https://` (rustls with ring; the webpki roots plus
/// `extra_roots`).
fn client(extra_roots: &[CertificateDer<'static>]) -> HttpsClient {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for root in extra_roots {
        if let Err(e) = roots.add(root.clone()) {
            tracing::error!(error = %e, "callback_ca_file: certificate not usable as a trusted root");
        }
    }
    // ring, not aws-lc-rs: no C/cmake build. rustls 0.23.48 deprecates ring's provider because it has no
    // post-quantum key exchange; the classical groups (X25519, P-256, P-384) remain what most servers offer.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE)
        .build(connector)
}

/// Reads `callback_ca_file`: one or more PEM certificates to trust besides the webpki roots.
pub fn load_roots(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{path}: not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{path}: no PEM certificate in it"));
    }
    let mut store = rustls::RootCertStore::empty();
    for cert in &certs {
        store
            .add(cert.clone())
            .map_err(|e| format!("{path}: a certificate is not usable as a trusted root: {e}"))?;
    }
    Ok(certs)
}

/// Checks a configured `callback_url`: `http://` or `https://host[:port][/path][?query]`.
pub fn validate_url(url: &str) -> Result<(), String> {
    let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(h)) if !h.is_empty() => Ok(()),
        (Some("http" | "https"), _) => Err("has no host".into()),
        _ => Err("must start with http:// or https://".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(token: Option<&str>) -> StateChange {
        StateChange {
            target: Arc::new(CallbackTarget {
                url: "http://127.0.0.1:8080/cb".into(),
                token: token.map(String::from),
            }),
            sdk_app_id: 1400000000,
            user_id: "alice".into(),
            transition: Transition::Login,
            opt_platform: "web",
            client_ip: Some("127.0.0.1".parse().unwrap()),
            event_time_ms: 1_700_000_000_123,
            kicked: vec![Platform::Wx],
        }
    }

    #[test]
    fn sign_is_hex_sha256_of_token_then_time() {
        // echo -n "abc1700000000" | sha256sum
        assert_eq!(
            sign("abc", 1_700_000_000),
            "139d720ab3fe33252a099243519e7548ce791f035b647c70bc13e8a12f503cda"
        );
        assert_eq!(sign("abc", 1).len(), 64);
        assert_ne!(sign("abc", 1), sign("abc", 2));
    }

    #[test]
    fn url_and_body_have_the_vendor_shape() {
        let e = event(Some("tok"));
        assert_eq!(
            e.url(1_700_000_000),
            format!(
                "http://127.0.0.1:8080/cb?SdkAppid=1400000000&CallbackCommand=State.StateChange&contenttype=json\
                 &ClientIP=127.0.0.1&OptPlatform=web&RequestTime=1700000000&Sign={}",
                sign("tok", 1_700_000_000)
            )
        );
        assert_eq!(
            e.body(),
            json!({"CallbackCommand": "State.StateChange", "EventTime": 1_700_000_000_123u64,
                   "Info": {"Action": "Login", "To_Account": "alice", "Reason": "Register"},
                   "KickedDevice": [{"Platform": "wx"}]})
        );
        let mut logout = event(None);
        logout.transition = Transition::Logout;
        assert!(logout.body().get("KickedDevice").is_none());
        assert!(!logout.url(1).contains("Sign="));
    }

    #[test]
    fn full_queue_drops_the_oldest() {
        let policy = DeliveryPolicy {
            queue: 2,
            max_attempts: 1,
            backoff: Duration::from_millis(1),
            timeout: Duration::from_millis(1),
        };
        let cb = AppCallbacks::new(1400000000, policy, &[]);
        let metrics = Metrics::default();
        for user in ["a", "b", "c"] {
            let mut e = event(None);
            e.user_id = user.into();
            cb.emit(e, &metrics);
        }
        let users: Vec<String> = cb.lock().iter().map(|e| e.user_id.clone()).collect();
        assert_eq!(users, ["b", "c"]);
        assert!(metrics
            .render(0, 0)
            .contains("tim_callbacks_total{app=\"1400000000\",result=\"dropped\"} 1\n"));
    }

    #[test]
    fn http_and_https_urls_are_accepted() {
        assert!(validate_url("http://127.0.0.1:9/cb").is_ok());
        assert!(validate_url("https://example.com/cb").is_ok());
        assert!(validate_url("ftp://example.com/cb").is_err());
        assert!(validate_url("https:///cb").is_err());
        assert!(validate_url("127.0.0.1:9").is_err());
    }
}
