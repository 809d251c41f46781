//! `--dev` mode extras: `GET /dev/usersig?userID=ID[&expire=SECONDS]` and CORS for browser demos.
//! These routes exist only in dev mode (404 otherwise): handing out UserSigs is for trying things out.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
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

async fn usersig(State(state): State<Arc<AppState>>, Query(params): Query<HashMap<String, String>>) -> Response {
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

/// Dev mode: answers CORS preflights and lets any origin read every reply (the browser demo calls
/// `/dev/usersig` and the admin API from another origin).
pub async fn cors(request: Request, next: Next) -> Response {
    let mut response = if request.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
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
