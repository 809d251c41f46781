//! The Redis registry: N tim-server nodes on one Redis 7 (or a Redis Cluster) with the rule of one node.
//!
//! Every state change of an account is one Lua script over that account's keys (one hash tag, see
//! `redis_keys`), so Redis orders concurrent logins from any node: the admission script increments the
//! account's sequence, adds the instance, evicts the earliest beyond the limit (read from the app's
//! settings key in the same call on one Redis) and returns the evicted, each exactly once. Scripts are
//! sent as EVALSHA with a fallback to loading them (redis-rs `Script`).
//!
//! Kicks for instances held by another node travel on that node's pub/sub channel (sharded pub/sub on a
//! cluster), fenced by instance id and admission sequence; `redis_bus` receives them, keeps the node's
//! liveness key, reconciles the node's instances with Redis (on every (re)subscribe and periodically) and
//! purges dead nodes. When Redis does not answer, logins get 80012 and open sessions stay.

use crate::kick_log::KickRecord;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Script, Value};
use tim_protocol::{KickType, Platform, ServerFrame};

use super::redis_keys::{self as keys, AccountKeys};
use super::{
    AccountKey, Admission, AdmitError, AdmitRequest, ConnId, Evicted, Evictor, Expired, InstanceInfo, Registry,
    RegistryFuture,
};
use crate::clock::Clock;
use crate::config::RegistryConfig;
use crate::hub::{Control, Hub};

const COMMON_LUA: &str = include_str!("lua/common.lua");

/// Kicked ids remembered per account (their resume gets 80007); older ones are forgotten.
const KICKED_PER_ACCOUNT: usize = 1000;

/// A command connection: one Redis (managed, reconnecting) or a cluster (slot-routed, reconnecting).
#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

fn script(body: &str) -> Script {
    Script::new(&format!("{COMMON_LUA}\n{body}"))
}

pub(super) struct Scripts {
    admit: Script,
    remove: Script,
    pub detach: Script,
    expire: Script,
    kick_account: Script,
    /// ZREM a detached ref only if its score is still the one read (a newer detach keeps its entry).
    zrem_if_score: Script,
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            admit: script(include_str!("lua/admit.lua")),
            remove: script(include_str!("lua/remove.lua")),
            detach: script(include_str!("lua/detach.lua")),
            expire: script(include_str!("lua/expire.lua")),
            kick_account: script(include_str!("lua/kick_account.lua")),
            zrem_if_score: Script::new(
                "if redis.call('ZSCORE', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('ZREM', KEYS[1], ARGV[1]) end return 0",
            ),
        }
    }
}

/// An instance this node holds, as the node remembers it (for fencing and reconciliation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Local {
    pub account: AccountKey,
    pub instance_id: String,
    /// Its admission sequence; 0 while the admission is in flight.
    pub seq: u64,
}

/// Whether Redis answers, with the transitions logged once each.
#[derive(Debug)]
pub(super) struct Health {
    up: AtomicBool,
    errors: AtomicU64,
}

impl Health {
    fn ok(&self) {
        if !self.up.swap(true, Ordering::SeqCst) {
            tracing::info!("registry: Redis answers again; logins are admitted");
        }
    }

    fn failed(&self, what: &str, why: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if self.up.swap(false, Ordering::SeqCst) {
            tracing::warn!(
                what,
                why,
                "registry: Redis does not answer; new logins are refused with 80012 (retryable), open sessions stay"
            );
        } else {
            tracing::debug!(what, why, "registry: Redis call failed");
        }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }
}

/// Counters shown on `/metrics`.
#[derive(Debug, Default)]
pub(super) struct Stats {
    pub kicks_by_message: AtomicU64,
    pub kicks_by_reconciliation: AtomicU64,
    pub replaced_by_reconciliation: AtomicU64,
    pub reconciliations: AtomicU64,
    pub subscriptions: AtomicU64,
    pub subscribed: AtomicBool,
    pub messages_relayed: AtomicU64,
    pub dead_nodes_purged: AtomicU64,
}

/// Shared by the registry and its background tasks.
pub(super) struct Inner {
    pub conn: Conn,
    pub cluster: bool,
    pub node: String,
    pub hub: Arc<Hub>,
    pub config: RegistryConfig,
    pub resume_grace_ms: u64,
    /// The server's one clock (kick times, grace ends, heartbeats).
    pub clock: Clock,
    pub scripts: Scripts,
    local: Mutex<HashMap<ConnId, Local>>,
    pub health: Health,
    pub stats: Stats,
}

/// The Redis [`Registry`].
pub struct RedisRegistry {
    inner: Arc<Inner>,
}

/// A message on a node's channel. Every kind names the connection and the instance it is for (fence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum NodeMessage {
    Kick {
        conn: ConnId,
        instance_id: String,
        seq: u64,
        kick_type: KickType,
        /// The evicting login (multi-instance rule), named in the `kicked` frame.
        by: Option<Evictor>,
    },
    Replaced {
        conn: ConnId,
        instance_id: String,
    },
    Push {
        conn: ConnId,
        instance_id: String,
        frame: String,
    },
}

pub(super) fn kick_type_named(name: &str) -> Option<KickType> {
    KickType::ALL.into_iter().find(|k| k.as_str() == name)
}

/// A kick as the `kick_type` hash stores it: the kick type, then for an eviction the evicting login's
/// platform and time (`"multipleAccount wx 1764630000123"`; older entries hold the type alone).
pub(super) fn parse_stored_kick(text: &str) -> Option<(KickType, Option<Evictor>)> {
    let mut parts = text.split(' ');
    let kick_type = kick_type_named(parts.next()?)?;
    let by = match (
        parts.next().and_then(Platform::parse),
        parts.next().and_then(|t| t.parse().ok()),
    ) {
        (Some(platform), Some(login_ms)) => Some(Evictor { platform, login_ms }),
        _ => None,
    };
    Some((kick_type, by))
}

impl NodeMessage {
    pub fn encode(&self) -> String {
        use serde_json::json;
        match self {
            NodeMessage::Kick {
                conn,
                instance_id,
                seq,
                kick_type,
                by,
            } => {
                let mut v =
                    json!({"k": "kick", "conn": conn, "id": instance_id, "seq": seq, "type": kick_type.as_str()});
                if let Some(by) = by {
                    v["bp"] = json!(by.platform.as_str());
                    v["bt"] = json!(by.login_ms);
                }
                v
            }
            NodeMessage::Replaced { conn, instance_id } => json!({"k": "replaced", "conn": conn, "id": instance_id}),
            NodeMessage::Push {
                conn,
                instance_id,
                frame,
            } => json!({"k": "push", "conn": conn, "id": instance_id, "frame": frame}),
        }
        .to_string()
    }

    pub fn decode(text: &str) -> Option<NodeMessage> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let conn = v.get("conn")?.as_u64()?;
        let instance_id = v.get("id")?.as_str()?.to_string();
        match v.get("k")?.as_str()? {
            "kick" => Some(NodeMessage::Kick {
                conn,
                instance_id,
                seq: v.get("seq")?.as_u64()?,
                kick_type: kick_type_named(v.get("type")?.as_str()?)?,
                // Absent from a node of an older version, and for kicks without an evicting login.
                by: match (
                    v.get("bp").and_then(|p| p.as_str()).and_then(Platform::parse),
                    v.get("bt").and_then(|t| t.as_u64()),
                ) {
                    (Some(platform), Some(login_ms)) => Some(Evictor { platform, login_ms }),
                    _ => None,
                },
            }),
            "replaced" => Some(NodeMessage::Replaced { conn, instance_id }),
            "push" => Some(NodeMessage::Push {
                conn,
                instance_id,
                frame: v.get("frame")?.as_str()?.to_string(),
            }),
            _ => None,
        }
    }
}

/// A parsed instance record (`"seq node conn platform login_ms until ip"`, `ip` absent from older ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    pub seq: u64,
    pub node: String,
    pub conn: ConnId,
    pub platform: Platform,
    pub login_ms: u64,
    /// 0 while attached, else the end of the resume grace.
    pub until: u64,
    /// The client address of its last connection (for the state-change callbacks' `ClientIP`).
    pub ip: Option<IpAddr>,
}

impl Record {
    pub fn parse(text: &str) -> Option<Record> {
        let mut parts = text.split(' ');
        let record = Record {
            seq: parts.next()?.parse().ok()?,
            node: parts.next()?.to_string(),
            conn: parts.next()?.parse().ok()?,
            platform: Platform::parse(parts.next()?)?,
            login_ms: parts.next()?.parse().ok()?,
            until: parts.next()?.parse().ok()?,
            ip: None,
        };
        let mut record = record;
        if let Some(ip) = parts.next() {
            record.ip = Some(ip.parse().ok()?);
        }
        parts.next().is_none().then_some(record)
    }
}

/// Connects to Redis as configured (one URL or cluster seeds), RESP3 when `resp3` (pub/sub pushes).
pub(super) async fn connect(
    config: &RegistryConfig,
    push: Option<tokio::sync::mpsc::UnboundedSender<redis::PushInfo>>,
) -> RedisResult<Conn> {
    let timeout = Duration::from_millis(config.timeout_ms);
    let with_resp3 = |url: &str| {
        if push.is_none() {
            url.to_string()
        } else if url.contains('?') {
            format!("{url}&protocol=resp3")
        } else {
            format!("{url}?protocol=resp3")
        }
    };
    match &config.url {
        Some(url) => {
            let client = redis::Client::open(with_resp3(url))?;
            let mut manager = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(2)
                .set_max_delay(Duration::from_millis(500));
            if let Some(tx) = push {
                manager = manager.set_push_sender(tx).set_automatic_resubscription();
            }
            Ok(Conn::Single(ConnectionManager::new_with_config(client, manager).await?))
        }
        None => {
            let seeds: Vec<String> = config.cluster.iter().map(|u| with_resp3(u)).collect();
            let mut builder = redis::cluster::ClusterClientBuilder::new(seeds)
                .connection_timeout(timeout)
                .response_timeout(timeout)
                .retries(2);
            if let Some(tx) = push {
                builder = builder.use_protocol(redis::ProtocolVersion::RESP3).push_sender(tx);
            }
            Ok(Conn::Cluster(builder.build()?.get_async_connection().await?))
        }
    }
}

impl RedisRegistry {
    /// Connects (failing when Redis cannot be reached at start), purges what a previous process with this
    /// node id left, and starts the subscriber, heartbeat, reconciliation and dead-node purge.
    pub async fn start(
        config: &RegistryConfig,
        node: String,
        hub: Arc<Hub>,
        resume_grace_ms: u64,
        clock: Clock,
    ) -> Result<RedisRegistry, String> {
        let target = config.url.clone().unwrap_or_else(|| config.cluster.join(","));
        let conn = connect(config, None)
            .await
            .map_err(|e| format!("cannot reach Redis at {target}: {e}"))?;
        let inner = Arc::new(Inner {
            conn,
            cluster: config.url.is_none(),
            node,
            hub,
            config: config.clone(),
            resume_grace_ms,
            clock,
            scripts: Scripts::new(),
            local: Mutex::new(HashMap::new()),
            health: Health {
                up: AtomicBool::new(true),
                errors: AtomicU64::new(0),
            },
            stats: Stats::default(),
        });
        // A restart under a fixed node_id: the old process's connections are gone; give their clients the
        // resume grace, as for any dead node.
        super::redis_bus::heartbeat(&inner).await;
        super::redis_bus::purge_node(&inner, &inner.node.clone()).await;
        super::redis_bus::spawn(Arc::clone(&inner))
            .await
            .map_err(|e| format!("cannot subscribe on Redis at {target}: {e}"))?;
        tracing::info!(node = %inner.node, cluster = inner.cluster, "registry: Redis");
        Ok(RedisRegistry { inner })
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.inner.node
    }
}

impl Inner {
    /// Runs a Redis call under the configured timeout, tracking health.
    pub async fn guard<T>(&self, what: &str, call: impl Future<Output = RedisResult<T>>) -> Result<T, AdmitError> {
        match tokio::time::timeout(Duration::from_millis(self.config.timeout_ms), call).await {
            Ok(Ok(v)) => {
                self.health.ok();
                Ok(v)
            }
            Ok(Err(e))
                if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout() =>
            {
                self.health.failed(what, &e.to_string());
                Err(AdmitError::Unavailable)
            }
            Ok(Err(e)) => {
                // Redis answered, with an error (a permission, a script bug): not an outage.
                tracing::warn!(what, error = %e, "registry: Redis refused a call");
                Err(AdmitError::Unavailable)
            }
            Err(_) => {
                self.health.failed(what, "timed out");
                Err(AdmitError::Unavailable)
            }
        }
    }

    pub fn local(&self) -> MutexGuard<'_, HashMap<ConnId, Local>> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets `conn`'s instance if it is `instance_id`; true when it was.
    pub fn forget(&self, conn: ConnId, instance_id: &str) -> Option<Local> {
        let mut local = self.local();
        if local.get(&conn).is_some_and(|l| l.instance_id == instance_id) {
            return local.remove(&conn);
        }
        None
    }

    pub async fn publish(&self, node: &str, message: &NodeMessage) {
        let command = if self.cluster { "SPUBLISH" } else { "PUBLISH" };
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd(command);
        cmd.arg(keys::node_channel(node)).arg(message.encode());
        match self.guard("publish", cmd.query_async::<i64>(&mut conn)).await {
            Ok(0) => tracing::debug!(
                node,
                "no subscriber on the node's channel; reconciliation or its purge covers it"
            ),
            Ok(_) => {}
            Err(_) => tracing::debug!(node, "publish failed; reconciliation covers it"),
        }
    }

    async fn index_add(&self, account: &AccountKey, instance_id: &str) {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("SADD");
        cmd.arg(keys::node_index(&self.node))
            .arg(keys::instance_ref(account, instance_id));
        let _ = self.guard("index", cmd.query_async::<i64>(&mut conn)).await;
    }

    async fn index_remove(&self, account: &AccountKey, instance_id: &str) {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("SREM");
        cmd.arg(keys::node_index(&self.node))
            .arg(keys::instance_ref(account, instance_id));
        let _ = self.guard("index", cmd.query_async::<i64>(&mut conn)).await;
    }

    /// Turns removed instances (`id node conn seq until platform ip` septets) into [`Evicted`]: this node's attached
    /// ones keep their connection for the caller's kick; other nodes' get their kick by message here.
    async fn deliver_removed(
        &self,
        account: &AccountKey,
        flat: &[String],
        kick_type: KickType,
        by: Option<Evictor>,
    ) -> Vec<Evicted> {
        let mut out = Vec::new();
        for chunk in flat.chunks_exact(7) {
            let (id, node, conn, seq, until) = (&chunk[0], &chunk[1], &chunk[2], &chunk[3], &chunk[4]);
            let platform = Platform::parse(&chunk[5]).unwrap_or_default();
            let ip = chunk[6].parse().ok();
            let conn: ConnId = conn.parse().unwrap_or(0);
            let seq: u64 = seq.parse().unwrap_or(0);
            let attached = until == "0" && !node.is_empty();
            let mut evicted = Evicted {
                instance_id: id.clone(),
                conn: None,
                platform,
                ip,
            };
            if attached && *node == self.node {
                self.forget(conn, id);
                evicted.conn = Some(conn);
                self.index_remove(account, id).await;
            } else if attached {
                let message = NodeMessage::Kick {
                    conn,
                    instance_id: id.clone(),
                    seq,
                    kick_type,
                    by,
                };
                self.publish(node, &message).await;
            }
            out.push(evicted);
        }
        out
    }

    async fn admit(&self, req: AdmitRequest) -> Result<Admission, AdmitError> {
        let keys = AccountKeys::new(&req.account);
        let mut limit = req.limit.max(1) as u64;
        if self.cluster {
            // On a cluster the settings key is in another slot: read it just before.
            if let Some(n) = self.app_limit(req.account.sdk_app_id).await? {
                limit = u64::from(n);
            }
        }
        // Known before the reply, so that a kick racing the reply (from a login on another node) is applied.
        self.local().insert(
            req.conn,
            Local {
                account: req.account.clone(),
                instance_id: req.instance_id.clone(),
                seq: 0,
            },
        );
        let mut invocation = self.scripts.admit.prepare_invoke();
        invocation
            .key(&keys.inst)
            .key(&keys.order)
            .key(&keys.seq)
            .key(&keys.kicked)
            .key(&keys.kick_type)
            .key(&keys.revoked);
        if !self.cluster {
            invocation.key(keys::app_settings(req.account.sdk_app_id));
        }
        invocation
            .arg(&req.instance_id)
            .arg(if req.presented { "1" } else { "0" })
            .arg(&self.node)
            .arg(req.conn)
            .arg(req.platform.as_str())
            .arg(req.now_ms)
            .arg(req.sig_time)
            .arg(limit)
            .arg(KICKED_PER_ACCOUNT)
            .arg(req.ip.to_string());
        let mut conn = self.conn.clone();
        let reply: Vec<String> = match self.guard("admit", invocation.invoke_async(&mut conn)).await {
            Ok(reply) => reply,
            Err(e) => {
                self.forget(req.conn, &req.instance_id);
                return Err(e);
            }
        };
        let status = reply.first().map(String::as_str).unwrap_or("");
        let seq: u64 = reply.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let refused = match status {
            "revoked" => Some(AdmitError::Revoked),
            "gone" => Some(AdmitError::InstanceGone),
            "resumed" | "ok" => None,
            other => {
                tracing::error!(reply = other, "registry: unexpected admission reply");
                Some(AdmitError::Unavailable)
            }
        };
        if let Some(refused) = refused {
            self.forget(req.conn, &req.instance_id);
            return Err(refused);
        }
        if let Some(local) = self.local().get_mut(&req.conn) {
            if local.instance_id == req.instance_id {
                local.seq = seq;
            }
        }
        self.index_add(&req.account, &req.instance_id).await;
        if status == "resumed" {
            let old_node = reply.get(2).cloned().unwrap_or_default();
            let old_conn: ConnId = reply.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
            let mut replaced_conn = None;
            if old_node == self.node {
                self.forget(old_conn, &req.instance_id);
                replaced_conn = Some(old_conn);
            } else if !old_node.is_empty() {
                let message = NodeMessage::Replaced {
                    conn: old_conn,
                    instance_id: req.instance_id.clone(),
                };
                self.publish(&old_node, &message).await;
            }
            return Ok(Admission {
                resumed: true,
                replaced_conn,
                evicted: Vec::new(),
            });
        }
        let by = Evictor {
            platform: req.platform,
            login_ms: req.now_ms,
        };
        let evicted = self
            .deliver_removed(&req.account, &reply[2..], KickType::MultipleAccount, Some(by))
            .await;
        Ok(Admission {
            resumed: false,
            replaced_conn: None,
            evicted,
        })
    }

    async fn remove(&self, account: &AccountKey, instance_id: &str, conn: ConnId, kick: Option<KickType>) -> bool {
        self.forget(conn, instance_id);
        let keys = AccountKeys::new(account);
        let mut invocation = self.scripts.remove.prepare_invoke();
        invocation
            .key(&keys.inst)
            .key(&keys.order)
            .key(&keys.kicked)
            .key(&keys.kick_type)
            .arg(instance_id)
            .arg(&self.node)
            .arg(conn)
            .arg(kick.map(KickType::as_str).unwrap_or(""))
            .arg(self.clock.unix_ms())
            .arg(KICKED_PER_ACCOUNT);
        let mut c = self.conn.clone();
        let removed = self.guard("remove", invocation.invoke_async::<i64>(&mut c)).await == Ok(1);
        self.index_remove(account, instance_id).await;
        removed
    }

    async fn detach(&self, account: &AccountKey, instance_id: &str, conn: ConnId, until_ms: u64) -> bool {
        self.forget(conn, instance_id);
        let detached = detach_instance(self, account, instance_id, &conn.to_string(), &self.node, until_ms).await;
        self.index_remove(account, instance_id).await;
        detached
    }

    async fn kick_account(&self, account: &AccountKey, revoke_time_secs: u64) -> Vec<Evicted> {
        let keys = AccountKeys::new(account);
        let mut invocation = self.scripts.kick_account.prepare_invoke();
        invocation
            .key(&keys.inst)
            .key(&keys.order)
            .key(&keys.kicked)
            .key(&keys.kick_type)
            .key(&keys.revoked)
            .arg(revoke_time_secs)
            .arg(self.clock.unix_ms())
            .arg(KICKED_PER_ACCOUNT);
        let mut c = self.conn.clone();
        match self.guard("kick", invocation.invoke_async::<Vec<String>>(&mut c)).await {
            Ok(flat) => self.deliver_removed(account, &flat, KickType::RestApi, None).await,
            Err(_) => Vec::new(),
        }
    }

    async fn expire_detached(&self, now_ms: u64) -> Vec<Expired> {
        let mut c = self.conn.clone();
        let mut cmd = redis::cmd("ZRANGE");
        cmd.arg(keys::DETACHED)
            .arg("-inf")
            .arg(now_ms)
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(0)
            .arg(500)
            .arg("WITHSCORES");
        let Ok(due) = self
            .guard("expire", cmd.query_async::<Vec<(String, String)>>(&mut c))
            .await
        else {
            return Vec::new();
        };
        let mut freed = Vec::new();
        for (member, score) in due {
            if let Some((account, id)) = keys::parse_instance_ref(&member) {
                let keys = AccountKeys::new(&account);
                let mut invocation = self.scripts.expire.prepare_invoke();
                invocation.key(&keys.inst).key(&keys.order).arg(&id).arg(now_ms);
                match self
                    .guard("expire", invocation.invoke_async::<Option<Vec<String>>>(&mut c))
                    .await
                {
                    Ok(Some(freed_instance)) => freed.push(Expired {
                        account,
                        instance_id: id,
                        platform: freed_instance
                            .first()
                            .and_then(|p| Platform::parse(p))
                            .unwrap_or_default(),
                        ip: freed_instance.get(1).and_then(|ip| ip.parse().ok()),
                    }),
                    Ok(None) => {}
                    Err(_) => return freed,
                }
            }
            let mut invocation = self.scripts.zrem_if_score.prepare_invoke();
            invocation.key(keys::DETACHED).arg(&member).arg(&score);
            let _ = self.guard("expire", invocation.invoke_async::<i64>(&mut c)).await;
        }
        freed
    }

    /// The account's last REST kick time (Unix seconds); `None` when there is none or Redis does not
    /// answer (then admission, which reads it in its own script, refuses logins anyway).
    async fn revoked_at(&self, account: &AccountKey) -> Option<u64> {
        let keys = AccountKeys::new(account);
        let mut c = self.conn.clone();
        let mut cmd = redis::cmd("GET");
        cmd.arg(&keys.revoked);
        let value: Option<String> = self.guard("revoked", cmd.query_async(&mut c)).await.ok().flatten();
        value.and_then(|v| v.parse().ok())
    }

    pub async fn records(&self, account: &AccountKey) -> Result<Vec<(String, Record)>, AdmitError> {
        let keys = AccountKeys::new(account);
        let mut c = self.conn.clone();
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(&keys.inst);
        let all: HashMap<String, String> = self.guard("instances", cmd.query_async(&mut c)).await?;
        let mut list: Vec<(String, Record)> = all
            .into_iter()
            .filter_map(|(id, text)| Record::parse(&text).map(|r| (id, r)))
            .collect();
        list.sort_by_key(|(_, r)| r.seq);
        Ok(list)
    }

    async fn instances(&self, account: &AccountKey) -> Vec<InstanceInfo> {
        let Ok(records) = self.records(account).await else {
            return Vec::new();
        };
        records
            .into_iter()
            .map(|(id, r)| InstanceInfo {
                instance_id: id,
                platform: r.platform,
                logged_in_at_ms: r.login_ms,
                conn: (r.until == 0).then_some(r.conn),
                node: (r.node != self.node).then_some(r.node),
            })
            .collect()
    }

    async fn app_limit(&self, sdk_app_id: u64) -> Result<Option<u32>, AdmitError> {
        let mut c = self.conn.clone();
        let mut cmd = redis::cmd("HGET");
        cmd.arg(keys::app_settings(sdk_app_id)).arg("owi");
        let value: Option<u32> = self.guard("settings", cmd.query_async(&mut c)).await?;
        Ok(value)
    }

    async fn message_seq(&self, sdk_app_id: u64, a: &str, b: &str) -> Result<Option<u64>, AdmitError> {
        let mut c = self.conn.clone();
        let mut cmd = redis::cmd("INCR");
        cmd.arg(keys::conversation_seq(sdk_app_id, a, b));
        self.guard("message_seq", cmd.query_async::<u64>(&mut c))
            .await
            .map(Some)
    }

    async fn set_app_limit(&self, sdk_app_id: u64, limit: u32) -> Result<(), AdmitError> {
        let mut c = self.conn.clone();
        let mut cmd = redis::cmd("HSET");
        cmd.arg(keys::app_settings(sdk_app_id)).arg("owi").arg(limit);
        self.guard("settings", cmd.query_async::<i64>(&mut c)).await.map(|_| ())
    }

    fn render_metrics(&self) -> String {
        let s = &self.stats;
        let load = |v: &AtomicU64| v.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut line = |name: &str, kind: &str, help: &str, rows: &[(&str, u64)]| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (labels, value) in rows {
                out.push_str(&format!("{name}{labels} {value}\n"));
            }
        };
        line(
            "tim_registry_up",
            "gauge",
            "1 while Redis answers, 0 while it does not (new logins then get 80012).",
            &[("", u64::from(self.health.is_up()))],
        );
        line(
            "tim_registry_errors_total",
            "counter",
            "Redis calls that failed or timed out.",
            &[("", load(&self.health.errors))],
        );
        line(
            "tim_registry_subscribed",
            "gauge",
            "1 while this node's pub/sub subscription is confirmed.",
            &[("", u64::from(s.subscribed.load(Ordering::SeqCst)))],
        );
        line(
            "tim_registry_subscriptions_total",
            "counter",
            "(Re)subscriptions to this node's channel (each is followed by a reconciliation).",
            &[("", load(&s.subscriptions))],
        );
        line(
            "tim_registry_reconciliations_total",
            "counter",
            "Checks of this node's instances against Redis.",
            &[("", load(&s.reconciliations))],
        );
        line(
            "tim_registry_kicks_delivered_total",
            "counter",
            "Kicks of this node's instances decided on another node, by how they arrived.",
            &[
                ("{via=\"message\"}", load(&s.kicks_by_message)),
                ("{via=\"reconciliation\"}", load(&s.kicks_by_reconciliation)),
            ],
        );
        line(
            "tim_registry_replaced_by_reconciliation_total",
            "counter",
            "Connections closed (without a kick) because Redis no longer gives them their instance.",
            &[("", load(&s.replaced_by_reconciliation))],
        );
        line(
            "tim_registry_messages_relayed_total",
            "counter",
            "Messages pushed to instances on other nodes.",
            &[("", load(&s.messages_relayed))],
        );
        line(
            "tim_registry_dead_nodes_purged_total",
            "counter",
            "Dead nodes whose instances were given the resume grace by this node.",
            &[("", load(&s.dead_nodes_purged))],
        );
        out
    }

    /// Applies a message from the node's channel, if its fence matches what this node holds.
    pub fn apply(&self, message: NodeMessage) {
        match message {
            NodeMessage::Kick {
                conn,
                instance_id,
                seq,
                kick_type,
                by,
            } => {
                let matches = {
                    let local = self.local();
                    local
                        .get(&conn)
                        .is_some_and(|l| l.instance_id == instance_id && (l.seq == 0 || l.seq == seq))
                };
                if matches {
                    self.forget(conn, &instance_id);
                    self.stats.kicks_by_message.fetch_add(1, Ordering::Relaxed);
                    self.hub.control(
                        conn,
                        Control::Kick {
                            instance_id,
                            kick_type,
                            by,
                        },
                    );
                }
            }
            NodeMessage::Replaced { conn, instance_id } => {
                if self.forget(conn, &instance_id).is_some() {
                    self.hub.control(conn, Control::Replaced { instance_id });
                }
            }
            NodeMessage::Push {
                conn,
                instance_id,
                frame,
            } => {
                let holds = self.local().get(&conn).is_some_and(|l| l.instance_id == instance_id);
                if let (true, Ok(frame)) = (holds, ServerFrame::decode(&frame)) {
                    self.hub.push(conn, frame);
                }
            }
        }
    }
}

/// Detaches an instance held by (node, conn) — conn `*`: any of the node's — until `until_ms`, and lists
/// it among the detached so that some node frees it when the grace ends.
pub(super) async fn detach_instance(
    inner: &Inner,
    account: &AccountKey,
    instance_id: &str,
    conn: &str,
    node: &str,
    until_ms: u64,
) -> bool {
    let keys = AccountKeys::new(account);
    let mut invocation = inner.scripts.detach.prepare_invoke();
    invocation
        .key(&keys.inst)
        .arg(instance_id)
        .arg(node)
        .arg(conn)
        .arg(until_ms);
    let mut c = inner.conn.clone();
    if inner.guard("detach", invocation.invoke_async::<i64>(&mut c)).await != Ok(1) {
        return false;
    }
    let mut cmd = redis::cmd("ZADD");
    cmd.arg(keys::DETACHED)
        .arg(until_ms)
        .arg(keys::instance_ref(account, instance_id));
    let _ = inner.guard("detach", cmd.query_async::<i64>(&mut c)).await;
    true
}

impl Registry for RedisRegistry {
    fn admit(&self, req: AdmitRequest) -> RegistryFuture<'_, Result<Admission, AdmitError>> {
        Box::pin(self.inner.admit(req))
    }

    fn release(&self, account: &AccountKey, instance_id: &str, conn: ConnId) -> RegistryFuture<'_, bool> {
        let (account, instance_id) = (account.clone(), instance_id.to_string());
        Box::pin(async move { self.inner.remove(&account, &instance_id, conn, None).await })
    }

    fn detach(&self, account: &AccountKey, instance_id: &str, conn: ConnId, until_ms: u64) -> RegistryFuture<'_, bool> {
        let (account, instance_id) = (account.clone(), instance_id.to_string());
        Box::pin(async move { self.inner.detach(&account, &instance_id, conn, until_ms).await })
    }

    fn remove_instance(
        &self,
        account: &AccountKey,
        instance_id: &str,
        conn: ConnId,
        kick: Option<KickType>,
    ) -> RegistryFuture<'_, bool> {
        let (account, instance_id) = (account.clone(), instance_id.to_string());
        Box::pin(async move { self.inner.remove(&account, &instance_id, conn, kick).await })
    }

    fn kick_account(&self, account: &AccountKey, revoke_time_secs: u64) -> RegistryFuture<'_, Vec<Evicted>> {
        let account = account.clone();
        Box::pin(async move { self.inner.kick_account(&account, revoke_time_secs).await })
    }

    fn expire_detached(&self, now_ms: u64) -> RegistryFuture<'_, Vec<Expired>> {
        Box::pin(self.inner.expire_detached(now_ms))
    }

    fn revoked_at(&self, account: &AccountKey) -> RegistryFuture<'_, Option<u64>> {
        let account = account.clone();
        Box::pin(async move { self.inner.revoked_at(&account).await })
    }

    fn instances(&self, account: &AccountKey) -> RegistryFuture<'_, Vec<InstanceInfo>> {
        let account = account.clone();
        Box::pin(async move { self.inner.instances(&account).await })
    }

    fn instance_count(&self) -> RegistryFuture<'_, usize> {
        let count = self.inner.local().len();
        Box::pin(std::future::ready(count))
    }

    fn app_limit(&self, sdk_app_id: u64) -> RegistryFuture<'_, Result<Option<u32>, AdmitError>> {
        Box::pin(self.inner.app_limit(sdk_app_id))
    }

    fn set_app_limit(&self, sdk_app_id: u64, limit: u32) -> RegistryFuture<'_, Result<(), AdmitError>> {
        Box::pin(self.inner.set_app_limit(sdk_app_id, limit))
    }

    fn message_seq(&self, sdk_app_id: u64, a: &str, b: &str) -> RegistryFuture<'_, Result<Option<u64>, AdmitError>> {
        let (a, b) = (a.to_string(), b.to_string());
        Box::pin(async move { self.inner.message_seq(sdk_app_id, &a, &b).await })
    }

    fn record_kick(&self, record: KickRecord) -> RegistryFuture<'_, ()> {
        Box::pin(super::redis_kicks::record(&self.inner, record))
    }

    fn recent_kicks(&self, account: &AccountKey) -> RegistryFuture<'_, Option<Vec<KickRecord>>> {
        let account = account.clone();
        Box::pin(async move { super::redis_kicks::of(&self.inner, &account).await })
    }

    fn relay(&self, node: &str, conn: ConnId, instance_id: &str, frame: &ServerFrame) -> RegistryFuture<'_, ()> {
        let node = node.to_string();
        let message = NodeMessage::Push {
            conn,
            instance_id: instance_id.to_string(),
            frame: frame.encode(),
        };
        Box::pin(async move {
            self.inner.stats.messages_relayed.fetch_add(1, Ordering::Relaxed);
            self.inner.publish(&node, &message).await;
        })
    }

    fn render_metrics(&self) -> String {
        self.inner.render_metrics()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_messages_round_trip() {
        let r = Record::parse("7 node-a 42 web 1700000000000 0").unwrap();
        assert_eq!(
            (r.seq, r.node.as_str(), r.conn, r.until, r.ip),
            (7, "node-a", 42, 0, None)
        );
        let r = Record::parse("7 node-a 42 wx 1 0 10.0.0.7").unwrap();
        assert_eq!((r.platform, r.ip), (Platform::Wx, Some("10.0.0.7".parse().unwrap())));
        assert_eq!(
            Record::parse("7 node-a 42 web 1 0 ::1").unwrap().ip,
            Some("::1".parse().unwrap())
        );
        assert_eq!(Record::parse("7 node-a 42 web 1 0 extra"), None);
        assert_eq!(Record::parse("7 node-a 42 web 1 0 10.0.0.7 extra"), None);
        assert_eq!(Record::parse("x node-a 42 web 1 0"), None);
        let messages = [
            NodeMessage::Kick {
                conn: 3,
                instance_id: "ab".into(),
                seq: 9,
                kick_type: KickType::RestApi,
                by: None,
            },
            NodeMessage::Kick {
                conn: 3,
                instance_id: "ab".into(),
                seq: 10,
                kick_type: KickType::MultipleAccount,
                by: Some(Evictor {
                    platform: Platform::Wx,
                    login_ms: 1_764_630_000_123,
                }),
            },
            NodeMessage::Replaced {
                conn: 4,
                instance_id: "cd".into(),
            },
            NodeMessage::Push {
                conn: 5,
                instance_id: "ef".into(),
                frame: "{}".into(),
            },
        ];
        for m in messages {
            assert_eq!(NodeMessage::decode(&m.encode()), Some(m));
        }
        assert_eq!(NodeMessage::decode("{\"k\":\"other\",\"conn\":1,\"id\":\"x\"}"), None);
        let wx = Evictor {
            platform: Platform::Wx,
            login_ms: 1_764_630_000_123,
        };
        assert_eq!(
            parse_stored_kick("multipleAccount wx 1764630000123"),
            Some((KickType::MultipleAccount, Some(wx)))
        );
        assert_eq!(
            parse_stored_kick("multipleAccount"),
            Some((KickType::MultipleAccount, None)),
            "an entry of an older version names no evictor"
        );
        assert_eq!(parse_stored_kick("REST_API_Kick"), Some((KickType::RestApi, None)));
        assert_eq!(
            parse_stored_kick("multipleAccount pc 1"),
            Some((KickType::MultipleAccount, None))
        );
        assert_eq!(parse_stored_kick("other"), None);
    }
}
