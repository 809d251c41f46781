//! `--dev` mode extras: `GET /dev/usersig?userID=ID[&expire=SECONDS]` and CORS for the browser demo.
//! These routes exist only in dev mode (404 otherwise): handing out UserSigs is for trying things out,
//! so `/dev/usersig` answers only loopback clients, and from a browser only pages of the demo's origins
//! (`--dev-origin`); CORS headers name those origins, never `*`. A page of another origin gets a 403 it
//! may read (CORS for that origin on the refusal only), naming `--dev-origin`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tim_protocol::ErrorCode;

use crate::app_state::AppState;
use crate::auth;
use crate::cli::DEFAULT_USERSIG_EXPIRE_SECS;
use crate::config::DEV_SDK_APP_ID;

/// The dev-only routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/dev/usersig", get(usersig))
}

async fn usersig(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if !is_loopback(peer.ip()) {
        return forbidden("/dev/usersig answers loopback clients only");
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        if !allowed_origin(&state, origin) {
            // The refused page may read why (it gets no UserSig): the 403 names the flag that allows it.
            let mut refused = forbidden(
                "/dev/usersig answers pages of the demo's origins only: start tim-server with --dev-origin <this page's origin>",
            );
            let headers = refused.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(header::VARY, HeaderValue::from_static("origin"));
            return refused;
        }
    }
    let user_id = params.get("userID").map(String::as_str).unwrap_or("");
    if let Err(code) = tim_protocol::limits::validate_user_id(user_id) {
        return bad_request(code, "userID");
    }
    let expire = match params.get("expire").map(|s| s.parse::<u64>()) {
        None => DEFAULT_USERSIG_EXPIRE_SECS,
        Some(Ok(s)) if s > 0 => s,
        Some(_) => return bad_request(ErrorCode::InvalidParameters, "expire"),
    };
    let Some(app) = state.apps.get(&DEV_SDK_APP_ID) else {
        return (StatusCode::NOT_FOUND, "no dev app").into_response();
    };
    let sig = auth::generate(
        app.sdk_app_id,
        &app.secret_key,
        user_id,
        expire,
        state.clock.unix_secs(),
    );
    Json(json!({"userID": user_id, "userSig": sig, "SDKAppID": app.sdk_app_id, "expire": expire})).into_response()
}

fn bad_request(code: ErrorCode, param: &str) -> Response {
    let body = json!({"code": code.code(), "error": format!("{param}: {}", code.message())});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn forbidden(why: &str) -> Response {
    let body = json!({"code": ErrorCode::InvalidParameters.code(), "error": why});
    (StatusCode::FORBIDDEN, Json(body)).into_response()
}

/// Loopback, IPv4-mapped IPv6 loopback included.
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

fn allowed_origin(state: &AppState, origin: &HeaderValue) -> bool {
    origin
        .to_str()
        .is_ok_and(|o| state.dev_origins.iter().any(|allowed| allowed.eq_ignore_ascii_case(o)))
}

/// Dev mode: answers CORS preflights and lets the demo's origins (only those) read the replies (the
/// demo page calls `/dev/usersig` and the admin API from its own origin).
pub async fn cors(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .filter(|o| allowed_origin(&state, o))
        .cloned();
    let mut response = if request.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let Some(origin) = origin else {
        return response;
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(header::VARY, HeaderValue::from_static("origin"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type"),
    );
    response
}
