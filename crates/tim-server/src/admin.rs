//! The admin REST API, vendor-compatible in shape: `POST /v4/<service>/<command>?sdkappid=N&identifier=ADMIN&
//! usersig=SIG&random=R&contenttype=json`, JSON body, reply `{"ActionStatus","ErrorCode","ErrorInfo",...}`
//! (always HTTP 200, like the vendor's).
//!
//! - `im_open_login_svc/kick` `{"UserID":"alice"}`: kicks every instance (`REST_API_Kick`) and revokes
//!   UserSigs with `TLS.time` at or before now.
//! - `tim_wasm_admin/get_app_config` `{}`: `{"SDKAppID":N,"OnlineWebInstances":n}`.
//! - `tim_wasm_admin/set_app_config` `{"OnlineWebInstances":n}`: applies to the next login at once.
//! - `tim_wasm_admin/query_online_instances` `{"UserID":"alice"}`: the live instances with their platform
//!   and the node holding each.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tim_protocol::{ErrorCode, KickType};

use crate::app_state::{AppRuntime, AppState};
use crate::auth;
use crate::hub::Control;
use crate::registry::AccountKey;

/// Largest `OnlineWebInstances` accepted.
pub const MAX_ONLINE_WEB_INSTANCES: u64 = 1000;

/// The admin routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v4/im_open_login_svc/kick", post(kick))
        .route("/v4/tim_wasm_admin/get_app_config", post(get_app_config))
        .route("/v4/tim_wasm_admin/set_app_config", post(set_app_config))
        .route(
            "/v4/tim_wasm_admin/query_online_instances",
            post(query_online_instances),
        )
}

type Params = Query<HashMap<String, String>>;
type Peer = ConnectInfo<SocketAddr>;

fn fail(code: ErrorCode, info: impl Into<String>) -> Json<Value> {
    Json(json!({"ActionStatus": "FAIL", "ErrorCode": code.code(), "ErrorInfo": info.into()}))
}

fn ok(extra: Value) -> Json<Value> {
    let mut body = Map::new();
    body.insert("ActionStatus".into(), json!("OK"));
    body.insert("ErrorCode".into(), json!(0));
    body.insert("ErrorInfo".into(), json!(""));
    if let Value::Object(extra) = extra {
        body.extend(extra);
    }
    Json(Value::Object(body))
}

/// Checks the query's admin credentials and parses the JSON body; Err is the reply to send.
fn authorize<'s>(
    state: &'s AppState,
    peer: &SocketAddr,
    params: &HashMap<String, String>,
    body: &str,
) -> Result<(&'s AppRuntime, Value), Json<Value>> {
    let ip = peer.ip();
    // Valid credentials always pass; failures from an address over the limit get 70050.
    let refuse = |code: ErrorCode, info: String| {
        let now = state.clock.now();
        let limited = state.login_failures.is_limited(ip, now);
        state.login_failures.record_failure(ip, now);
        if limited {
            return fail(ErrorCode::LoginRateLimited, ErrorCode::LoginRateLimited.message());
        }
        fail(code, info)
    };
    let sdk_app_id = params
        .get("sdkappid")
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| fail(ErrorCode::InvalidParameters, "sdkappid is missing or not a number"))?;
    let (Some(identifier), Some(usersig)) = (params.get("identifier"), params.get("usersig")) else {
        return Err(fail(
            ErrorCode::InvalidParameters,
            "identifier and usersig are required",
        ));
    };
    let app = state.apps.get(&sdk_app_id).ok_or_else(|| {
        refuse(
            ErrorCode::SdkAppIdNotFound,
            ErrorCode::SdkAppIdNotFound.message().into(),
        )
    })?;
    if *identifier != app.admin {
        return Err(refuse(
            ErrorCode::AdminRequired,
            format!("identifier must be the app admin ({})", app.admin),
        ));
    }
    auth::verify(app, identifier, usersig, state.clock.unix_secs()).map_err(|r| refuse(r.code, r.detail))?;
    let body = if body.trim().is_empty() { "{}" } else { body };
    let value: Value =
        serde_json::from_str(body).map_err(|e| fail(ErrorCode::InvalidParameters, format!("body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(fail(ErrorCode::InvalidParameters, "body must be a JSON object"));
    }
    Ok((app, value))
}

/// [`authorize`], then the account named by the body's `UserID`.
fn authorize_account<'s>(
    state: &'s AppState,
    peer: &SocketAddr,
    params: &HashMap<String, String>,
    body: &str,
) -> Result<(&'s AppRuntime, AccountKey), Json<Value>> {
    let (app, body) = authorize(state, peer, params, body)?;
    let user_id = user_id_of(&body)?;
    Ok((
        app,
        AccountKey {
            sdk_app_id: app.sdk_app_id,
            user_id,
        },
    ))
}

fn user_id_of(body: &Value) -> Result<String, Json<Value>> {
    let user_id = body
        .get("UserID")
        .and_then(Value::as_str)
        .ok_or_else(|| fail(ErrorCode::InvalidParameters, "UserID (string) is required"))?;
    tim_protocol::limits::validate_user_id(user_id).map_err(|code| fail(code, code.message()))?;
    Ok(user_id.to_string())
}

async fn kick(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): Peer,
    Query(params): Params,
    body: String,
) -> Json<Value> {
    let (app, account) = match authorize_account(&state, &peer, &params, &body) {
        Ok(ok) => ok,
        Err(reply) => return reply,
    };
    let removed = state.registry.kick_account(&account, state.clock.unix_secs()).await;
    for instance in &removed {
        state.metrics.kick(KickType::RestApi.as_str());
        if let Some(conn) = instance.conn {
            state.hub.control(
                conn,
                Control::Kick {
                    instance_id: instance.instance_id.clone(),
                    kick_type: KickType::RestApi,
                },
            );
        }
    }
    tracing::info!(app = app.sdk_app_id, user = %account.user_id, instances = removed.len(), "REST kick");
    ok(json!({}))
}

async fn app_config(state: &AppState, app: &AppRuntime) -> Json<Value> {
    let n = state.online_web_instances(app).await;
    ok(json!({"SDKAppID": app.sdk_app_id, "OnlineWebInstances": n}))
}

async fn get_app_config(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): Peer,
    Query(params): Params,
    body: String,
) -> Json<Value> {
    match authorize(&state, &peer, &params, &body) {
        Ok((app, _)) => app_config(&state, app).await,
        Err(reply) => reply,
    }
}

async fn set_app_config(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): Peer,
    Query(params): Params,
    body: String,
) -> Json<Value> {
    let (app, body) = match authorize(&state, &peer, &params, &body) {
        Ok(ok) => ok,
        Err(reply) => return reply,
    };
    let n = match body.get("OnlineWebInstances").and_then(Value::as_u64) {
        Some(n) if (1..=MAX_ONLINE_WEB_INSTANCES).contains(&n) => n as u32,
        _ => {
            let info = format!("OnlineWebInstances must be an integer from 1 to {MAX_ONLINE_WEB_INSTANCES}");
            return fail(ErrorCode::InvalidParameters, info);
        }
    };
    // A shared registry keeps it for every node and across restarts.
    if state.registry.set_app_limit(app.sdk_app_id, n).await.is_err() {
        let code = ErrorCode::RegistryUnavailable;
        return fail(code, code.message());
    }
    app.set_online_web_instances(n);
    tracing::info!(app = app.sdk_app_id, online_web_instances = n, "app config changed");
    app_config(&state, app).await
}

async fn query_online_instances(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): Peer,
    Query(params): Params,
    body: String,
) -> Json<Value> {
    let (_, account) = match authorize_account(&state, &peer, &params, &body) {
        Ok(ok) => ok,
        Err(reply) => return reply,
    };
    let instances: Vec<Value> = state
        .registry
        .instances(&account)
        .await
        .into_iter()
        .map(|i| {
            json!({
                "InstanceID": i.instance_id,
                "Platform": i.platform.as_str(),
                "LoginTimeMs": i.logged_in_at_ms,
                "State": if i.conn.is_some() { "Online" } else { "Detached" },
                "Node": i.node.as_deref().unwrap_or(&state.node_id),
            })
        })
        .collect();
    ok(json!({"UserID": account.user_id, "Instances": instances}))
}
