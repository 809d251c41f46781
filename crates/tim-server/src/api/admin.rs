//! The admin REST API, vendor-compatible in shape: `POST /v4/<service>/<command>?sdkappid=N&identifier=ADMIN&
//! usersig=SIG&random=R&contenttype=json`, JSON body, reply `{"ActionStatus","ErrorCode","ErrorInfo",...}`
//! (HTTP 200, like the vendor's, except when the registry cannot answer: HTTP 503 with `ErrorCode` 80012 and
//! nothing done; no command answers `OK` for work it did not do).
//!
//! - `im_open_login_svc/kick` `{"UserID":"alice"}`: kicks every instance (`REST_API_Kick`) and revokes
//!   UserSigs with `TLS.time` at or before now.
//! - `tim_wasm_admin/get_app_config` `{}`: `{"SDKAppID":N,"OnlineWebInstances":n}`.
//! - `tim_wasm_admin/set_app_config` `{"OnlineWebInstances":n}`: applies to the next login at once.
//! - `tim_wasm_admin/query_online_instances` `{"UserID":"alice"}`: the live instances with their platform,
//!   the node holding each and its client address.
//! - `openim/query_online_status` `{"To_Account":[...], "IsNeedDetail":1}`: online or offline, per account.
//! - `tim_wasm_admin/query_recent_kicks` `{"UserID":"alice"}`: the account's recent kicks, from every node.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tim_protocol::{ErrorCode, KickType};

use crate::app_state::{AppRuntime, AppState};
use crate::auth;
use crate::effects::callback::REST_API_PLATFORM;
use crate::effects::{Gone, Left};
use crate::registry::{AccountKey, Unavailable};

/// Largest `OnlineWebInstances` accepted.
pub const MAX_ONLINE_WEB_INSTANCES: u64 = 1000;

/// One admin command: its path and what it does once [`authorize`] has passed.
#[derive(Clone, Copy)]
enum Command {
    Kick,
    GetAppConfig,
    SetAppConfig,
    QueryOnlineInstances,
    QueryOnlineStatus,
    QueryRecentKicks,
}

const COMMANDS: [(&str, Command); 6] = [
    ("/v4/im_open_login_svc/kick", Command::Kick),
    ("/v4/tim_wasm_admin/get_app_config", Command::GetAppConfig),
    ("/v4/tim_wasm_admin/set_app_config", Command::SetAppConfig),
    (
        "/v4/tim_wasm_admin/query_online_instances",
        Command::QueryOnlineInstances,
    ),
    ("/v4/openim/query_online_status", Command::QueryOnlineStatus),
    ("/v4/tim_wasm_admin/query_recent_kicks", Command::QueryRecentKicks),
];

/// The admin routes.
pub fn routes() -> Router<Arc<AppState>> {
    COMMANDS.iter().fold(Router::new(), |router, &(path, command)| {
        router.route(
            path,
            post(move |state, peer, params, body| call(command, state, peer, params, body)),
        )
    })
}

/// Every command: authenticate, parse the body, run it; a failure at any step is the reply.
async fn call(
    command: Command,
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): Peer,
    Query(params): Params,
    body: String,
) -> Response {
    let (app, body) = match authorize(&state, &peer, &params, &body).await {
        Ok(ok) => ok,
        Err(reply) => return reply.into_response(),
    };
    let done = match command {
        Command::Kick => kick(&state, app, &body).await,
        Command::GetAppConfig => app_config(&state, app).await,
        Command::SetAppConfig => set_app_config(&state, app, &body).await,
        Command::QueryOnlineInstances => query_online_instances(&state, app, &body).await,
        Command::QueryOnlineStatus => query_online_status(&state, app, &body).await,
        Command::QueryRecentKicks => query_recent_kicks(&state, app, &body).await,
    };
    match done {
        Ok(reply) => reply.into_response(),
        Err(reply) => reply.into_response(),
    }
}

/// A refused command: the vendor-shaped body, with its HTTP status.
struct Refused(StatusCode, Json<Value>);

impl From<Json<Value>> for Refused {
    fn from(body: Json<Value>) -> Refused {
        Refused(StatusCode::OK, body)
    }
}

impl From<Unavailable> for Refused {
    fn from(_: Unavailable) -> Refused {
        let code = ErrorCode::RegistryUnavailable;
        let info = "the session registry (Redis) is unreachable or did not answer in time: nothing was done; retry";
        Refused(StatusCode::SERVICE_UNAVAILABLE, fail(code, info))
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
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
///
/// Failures count in their own per-address limiter (`admin_failures_per_ip`), apart from WebSocket
/// logins, and no reply before authentication names the admin.
async fn authorize<'s>(
    state: &'s AppState,
    peer: &SocketAddr,
    params: &HashMap<String, String>,
    body: &str,
) -> Result<(&'s AppRuntime, Value), Refused> {
    let ip = peer.ip();
    // Valid credentials always pass; failures from an address over the limit get 70050. Admin failures
    // have their own limiter, so that bad WebSocket logins behind one address do not lock the admin out.
    let refuse = |code: ErrorCode, info: String| {
        let now = state.clock.now();
        let limited = state.admin_failures.is_limited(ip, now);
        state.admin_failures.record_failure(ip, now);
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
        return Err(fail(ErrorCode::InvalidParameters, "identifier and usersig are required").into());
    };
    let app = state.apps.get(&sdk_app_id).ok_or_else(|| {
        refuse(
            ErrorCode::SdkAppIdNotFound,
            ErrorCode::SdkAppIdNotFound.message().into(),
        )
    })?;
    if *identifier != app.admin {
        return Err(refuse(ErrorCode::AdminRequired, "identifier is not this app's admin".into()).into());
    }
    let max_future = state.limits.usersig_max_future_secs;
    let sig = auth::verify(app, identifier, usersig, state.clock.unix_secs(), max_future)
        .map_err(|r| refuse(r.code, r.detail))?;
    // A REST kick of the admin revokes the admin's older UserSigs here too.
    let admin = AccountKey {
        sdk_app_id,
        user_id: identifier.clone(),
    };
    if state
        .registry
        .revoked_at(&admin)
        .await?
        .is_some_and(|t| sig.issued_at <= t)
    {
        let code = ErrorCode::UserSigRevoked;
        return Err(refuse(code, code.message().into()).into());
    }
    let body = if body.trim().is_empty() { "{}" } else { body };
    let value: Value =
        serde_json::from_str(body).map_err(|e| fail(ErrorCode::InvalidParameters, format!("body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(fail(ErrorCode::InvalidParameters, "body must be a JSON object").into());
    }
    Ok((app, value))
}

/// The account named by the body's `UserID`.
fn account_of(app: &AppRuntime, body: &Value) -> Result<AccountKey, Json<Value>> {
    Ok(AccountKey {
        sdk_app_id: app.sdk_app_id,
        user_id: user_id_of(body)?,
    })
}

fn user_id_of(body: &Value) -> Result<String, Json<Value>> {
    let user_id = body
        .get("UserID")
        .and_then(Value::as_str)
        .ok_or_else(|| fail(ErrorCode::InvalidParameters, "UserID (string) is required"))?;
    tim_protocol::limits::validate_user_id(user_id).map_err(|code| fail(code, code.message()))?;
    Ok(user_id.to_string())
}

async fn kick(state: &AppState, app: &AppRuntime, body: &Value) -> Result<Json<Value>, Refused> {
    let account = account_of(app, body)?;
    // `OK` only once the registry has the kick and the revocation; when it cannot answer, nothing was
    // done (its write deadline passed) and the caller is told to retry.
    let kicked = state
        .registry
        .kick_account(&account, state.clock.unix_secs(), state.clock.unix_ms())
        .await?;
    for instance in &kicked.removed {
        state.instance_left(&account, &Gone::from(instance), Left::AdminKick);
    }
    let instances = kicked.removed.len();
    tracing::info!(app = app.sdk_app_id, user = %account.user_id, instances, "REST kick");
    if !kicked.replicated {
        let code = ErrorCode::RegistryUnavailable;
        let info = "the kick took effect, but fewer Redis replicas than wait_replicas confirmed it in time: \
                    a failover could lose its revocation; retry it (a kick is idempotent)";
        return Err(Refused(StatusCode::SERVICE_UNAVAILABLE, fail(code, info)));
    }
    Ok(ok(json!({})))
}

async fn app_config(state: &AppState, app: &AppRuntime) -> Result<Json<Value>, Refused> {
    let n = state.online_web_instances(app).await?;
    Ok(ok(json!({"SDKAppID": app.sdk_app_id, "OnlineWebInstances": n})))
}

async fn set_app_config(state: &AppState, app: &AppRuntime, body: &Value) -> Result<Json<Value>, Refused> {
    let n = match body.get("OnlineWebInstances").and_then(Value::as_u64) {
        Some(n) if (1..=MAX_ONLINE_WEB_INSTANCES).contains(&n) => n as u32,
        _ => {
            let info = format!("OnlineWebInstances must be an integer from 1 to {MAX_ONLINE_WEB_INSTANCES}");
            return Err(fail(ErrorCode::InvalidParameters, info).into());
        }
    };
    // The registry keeps it for every node (and, on Redis, across restarts).
    state.registry.set_app_limit(app.sdk_app_id, n).await?;
    app.set_online_web_instances(n);
    tracing::info!(app = app.sdk_app_id, online_web_instances = n, "app config changed");
    app_config(state, app).await
}

async fn query_online_instances(state: &AppState, app: &AppRuntime, body: &Value) -> Result<Json<Value>, Refused> {
    let account = account_of(app, body)?;
    let instances: Vec<Value> = state
        .registry
        .instances(&account)
        .await?
        .into_iter()
        .map(|i| {
            json!({
                "InstanceID": i.instance_id,
                "Platform": i.platform.as_str(),
                "LoginTimeMs": i.logged_in_at_ms,
                "State": if i.conn.is_some() { "Online" } else { "Detached" },
                "Node": i.node.as_deref().unwrap_or(&state.node_id),
                // A real answer, not a failure (the registry read succeeded): an instance whose client
                // address is not recorded shows "".
                "ClientIP": i.ip.map(|ip| ip.to_string()).unwrap_or_default(),
            })
        })
        .collect();
    Ok(ok(json!({"UserID": account.user_id, "Instances": instances})))
}

/// Most accounts one `query_online_status` may name (the vendor's limit).
pub const MAX_STATUS_ACCOUNTS: usize = 500;

/// `openim/query_online_status` `{"To_Account":[...], "IsNeedDetail":0|1}`, in the vendor's shape: each
/// account `Online` (it holds at least one live instance, on any node) or `Offline`; with
/// `IsNeedDetail: 1`, each instance's `Platform`, `Status` (`Online`, or `PushOnline` while its socket is
/// gone but its slot is kept for a resume) and `InstID`. Entries that are not valid UserIDs go to
/// `ErrorList`.
async fn query_online_status(state: &AppState, app: &AppRuntime, body: &Value) -> Result<Json<Value>, Refused> {
    let Some(accounts) = body.get("To_Account").and_then(Value::as_array) else {
        let info = "To_Account (array of UserIDs) is required";
        return Err(fail(ErrorCode::InvalidParameters, info).into());
    };
    if accounts.is_empty() || accounts.len() > MAX_STATUS_ACCOUNTS {
        let info = format!("To_Account must list 1 to {MAX_STATUS_ACCOUNTS} accounts");
        return Err(fail(ErrorCode::InvalidParameters, info).into());
    }
    let detail = body.get("IsNeedDetail").and_then(Value::as_u64) == Some(1);
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for entry in accounts {
        let user_id = match entry.as_str() {
            Some(id) => id,
            None => {
                let code = ErrorCode::InvalidParameters;
                errors.push(json!({"To_Account": entry, "ErrorCode": code.code(), "ErrorInfo": "not a string"}));
                continue;
            }
        };
        if let Err(code) = tim_protocol::limits::validate_user_id(user_id) {
            errors.push(json!({"To_Account": user_id, "ErrorCode": code.code(), "ErrorInfo": code.message()}));
            continue;
        }
        let account = AccountKey {
            sdk_app_id: app.sdk_app_id,
            user_id: user_id.to_string(),
        };
        // An account the registry cannot answer for is not reported `Offline`: the whole query fails.
        let instances = state.registry.instances(&account).await?;
        let status = if instances.is_empty() { "Offline" } else { "Online" };
        let mut result = json!({"To_Account": user_id, "Status": status});
        if detail {
            let list: Vec<Value> = instances
                .iter()
                .map(|i| {
                    json!({
                        "Platform": i.platform.as_str(),
                        "Status": if i.conn.is_some() { "Online" } else { "PushOnline" },
                        "InstID": i.instance_id,
                    })
                })
                .collect();
            result["Detail"] = Value::Array(list);
        }
        results.push(result);
    }
    Ok(ok(json!({"QueryResult": results, "ErrorList": errors})))
}

/// `tim_wasm_admin/query_recent_kicks` `{"UserID":"alice"}`: the account's recent kicks, oldest first:
/// when, which instance, why, and by which instance (a login that took the slot) or `RESTAPI` (an
/// administrator), from every node (with Redis); an error while Redis does not answer.
async fn query_recent_kicks(state: &AppState, app: &AppRuntime, body: &Value) -> Result<Json<Value>, Refused> {
    let account = account_of(app, body)?;
    let records = state.registry.recent_kicks(&account).await?;
    let kicks: Vec<Value> = records
        .into_iter()
        .map(|k| {
            let by_platform = match (k.kick_type, k.by_platform) {
                (_, Some(p)) => json!(p.as_str()),
                (KickType::RestApi, None) => json!(REST_API_PLATFORM),
                _ => Value::Null,
            };
            json!({
                "TimeMs": k.time_ms,
                "InstanceID": k.instance_id,
                "Platform": k.platform.as_str(),
                "Type": k.kick_type.as_str(),
                "ByInstanceID": k.by_instance_id,
                "ByPlatform": by_platform,
            })
        })
        .collect();
    Ok(ok(json!({"UserID": account.user_id, "Kicks": kicks})))
}
