//! A node's Redis engine state and operations: the command connection and its health, the instances
//! this node holds (for fencing kicks and reconciliation), and each registry operation as the ledger's
//! events carried out (this node's kicks returned to the caller, other nodes' published on their
//! channels, the detached set and the node's index kept).

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

use super::keys;
use super::store::{ApplyError, LedgerCache, LedgerScripts};
use crate::clock::Clock;
use crate::config::RegistryConfig;
use crate::hub::{Control, Hub};
use crate::registry::ledger::{self, Event, Holder, HolderMatch, Leave, Op, Policy, Refusal};
use crate::registry::{
    AccountKey, Admission, AdmitError, AdmitRequest, ConnId, Evicted, Evictor, Expired, InstanceInfo, Kicked,
    Unavailable,
};

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

pub(super) struct Scripts {
    /// ZREM a detached ref only if its score is still the one read (a newer detach keeps its entry).
    zrem_if_score: Script,
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            zrem_if_score: Script::new(
                "if redis.call('ZSCORE', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('ZREM', KEYS[1], ARGV[1]) end return 0",
            ),
        }
    }
}

/// Redis writes an operation's events call for (see [`Inner::followups`]).
#[derive(Debug, Default)]
pub(super) struct Followups {
    /// Instance refs to put in this node's index (an admission written from the cache).
    pub sadd: Vec<String>,
    /// Instance refs to take out of this node's index.
    pub srem: Vec<String>,
    /// Detached instance refs to put in the detached set, with the end of their grace.
    pub zadd: Vec<(u64, String)>,
    /// Instance refs to take out of the detached set.
    pub zrem: Vec<String>,
    /// Messages for other nodes' channels: (channel, message).
    pub publish: Vec<(String, String)>,
}

/// What an operation's events left for the caller: the removed instances (this node's attached ones
/// with their connection, which the caller kicks) and the connection a resume here replaced.
#[derive(Debug, Default)]
struct Delivered {
    removed: Vec<Evicted>,
    replaced_conn: Option<ConnId>,
}

/// An instance this node holds, as the node remembers it (for fencing and reconciliation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Local {
    pub account: AccountKey,
    pub instance_id: String,
    /// Its admission sequence; 0 while the admission is in flight.
    pub seq: u64,
    /// Its runtime and client address (what a `Disconnect` callback names if Redis loses it).
    pub platform: Platform,
    pub ip: IpAddr,
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

    pub fn failed(&self, what: &str, why: &str) {
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
    pub ghosts_removed: AtomicU64,
    pub fences: AtomicU64,
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
    pub ledger_scripts: LedgerScripts,
    /// Ledgers this node last read or wrote (see `store`).
    ledger_cache: Mutex<LedgerCache>,
    /// What each account's ledger remembers, and for how long.
    pub policy: Policy,
    local: Mutex<HashMap<ConnId, Local>>,
    /// Set while this node has fenced itself (see `bus::fence_when_cut_off`): logins are refused.
    pub fenced: AtomicBool,
    /// When the liveness key was last renewed (the time its renewal was sent).
    renewed_at: Mutex<std::time::Instant>,
    /// Instances of this node that Redis lost (restarted without persistence, a failover that lost the
    /// last writes), found by reconciliation; the server's sweep reports each once.
    lost: Mutex<Vec<Expired>>,
    /// Index entries the last reconciliation found held by no connection of this node.
    suspects: Mutex<std::collections::HashSet<String>>,
    pub health: Health,
    pub stats: Stats,
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

impl Inner {
    /// The state of a node connected to Redis by `conn`.
    pub fn new(
        conn: Conn,
        config: &RegistryConfig,
        node: String,
        hub: Arc<Hub>,
        resume_grace_ms: u64,
        policy: Policy,
        clock: Clock,
    ) -> Inner {
        Inner {
            conn,
            cluster: config.url.is_none(),
            node,
            hub,
            config: config.clone(),
            resume_grace_ms,
            clock,
            scripts: Scripts::new(),
            ledger_scripts: LedgerScripts::new(),
            ledger_cache: Mutex::new(LedgerCache::default()),
            policy,
            local: Mutex::new(HashMap::new()),
            suspects: Mutex::new(std::collections::HashSet::new()),
            lost: Mutex::new(Vec::new()),
            fenced: AtomicBool::new(false),
            renewed_at: Mutex::new(std::time::Instant::now()),
            health: Health {
                up: AtomicBool::new(true),
                errors: AtomicU64::new(0),
            },
            stats: Stats::default(),
        }
    }
}

impl Inner {
    /// Runs a Redis call under the configured timeout, tracking health.
    pub async fn guard<T>(&self, what: &str, call: impl Future<Output = RedisResult<T>>) -> Result<T, Unavailable> {
        self.guard_for(what, Duration::from_millis(self.config.timeout_ms), call)
            .await
    }

    /// Runs a Redis call under `limit`, tracking health.
    pub async fn guard_for<T>(
        &self,
        what: &str,
        limit: Duration,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, Unavailable> {
        match tokio::time::timeout(limit, call).await {
            Ok(Ok(v)) => {
                self.health.ok();
                Ok(v)
            }
            Ok(Err(e))
                if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout() =>
            {
                self.health.failed(what, &e.to_string());
                Err(Unavailable)
            }
            Ok(Err(e)) => {
                // Redis answered, with an error (a permission, a script bug): not an outage.
                tracing::warn!(what, error = %e, "registry: Redis refused a call");
                Err(Unavailable)
            }
            Err(_) => {
                self.health.failed(what, "timed out");
                Err(Unavailable)
            }
        }
    }

    /// Records a renewal of the liveness key sent at `sent`.
    pub fn renewed(&self, sent: std::time::Instant) {
        let mut at = self.renewed_at.lock().unwrap_or_else(|p| p.into_inner());
        *at = (*at).max(sent);
    }

    /// When the liveness key was last renewed.
    pub fn last_renewal(&self) -> std::time::Instant {
        *self.renewed_at.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an instance Redis lost.
    pub fn lost(&self, lost: Expired) {
        self.lost.lock().unwrap_or_else(|p| p.into_inner()).push(lost);
    }

    /// The lost instances recorded since the last call.
    pub fn take_lost(&self) -> Vec<Expired> {
        std::mem::take(&mut *self.lost.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn ledger_cache(&self) -> MutexGuard<'_, LedgerCache> {
        self.ledger_cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn suspects(&self) -> MutexGuard<'_, std::collections::HashSet<String>> {
        self.suspects.lock().unwrap_or_else(|p| p.into_inner())
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

    /// Publishes to a node's channel. Delivery is best effort (the receiving node's reconciliation covers
    /// a lost kick); `Err` when Redis did not take the message.
    pub async fn publish(&self, node: &str, message: &NodeMessage) -> Result<(), Unavailable> {
        let command = if self.cluster { "SPUBLISH" } else { "PUBLISH" };
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd(command);
        cmd.arg(keys::node_channel(node)).arg(message.encode());
        match self.guard("publish", cmd.query_async::<i64>(&mut conn)).await {
            Ok(0) => {
                tracing::debug!(
                    node,
                    "no subscriber on the node's channel; reconciliation or its purge covers it"
                );
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::debug!(node, "publish failed; reconciliation covers it");
                Err(e)
            }
        }
    }

    async fn index_add(&self, account: &AccountKey, instance_id: &str) -> Result<(), Unavailable> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("SADD");
        cmd.arg(keys::node_index(&self.node))
            .arg(keys::instance_ref(account, instance_id));
        self.guard("index", cmd.query_async::<i64>(&mut conn)).await.map(|_| ())
    }

    async fn index_remove(&self, account: &AccountKey, instance_id: &str) {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("SREM");
        cmd.arg(keys::node_index(&self.node))
            .arg(keys::instance_ref(account, instance_id));
        let _ = self.guard("index", cmd.query_async::<i64>(&mut conn)).await;
    }

    /// Carries out what an operation's events ask of this node: fencing state and the index for its own
    /// instances, the kick or replacement of instances held by other nodes (by their channel), the
    /// detached set for the sweep. Returns the removed instances (this node's attached ones with their
    /// connection, for the caller's kick) and the connection replaced by a resume on this node.
    /// The Redis writes an operation's events call for besides the ledger: the node's index, the
    /// detached set, kicks and replacements for other nodes' connections. On one Redis they run in the
    /// ledger's write script (atomically with it, no round trip of their own); on a cluster, where those
    /// keys and channels live in other slots, right after it.
    pub(super) fn followups(
        &self,
        account: &AccountKey,
        events: &[Event],
        kick: Option<(KickType, Option<Evictor>)>,
    ) -> Followups {
        let mut f = Followups::default();
        for event in events {
            let instance = event.instance();
            let reference = || keys::instance_ref(account, &instance.id);
            match event {
                Event::Admitted(_) => {}
                Event::Resumed { replaced, .. } => {
                    // It may have been detached: it leaves the detached set.
                    f.zrem.push(reference());
                    if let Some(old) = replaced.as_ref().filter(|old| old.node != self.node) {
                        let message = NodeMessage::Replaced {
                            conn: old.conn,
                            instance_id: instance.id.clone(),
                        };
                        f.publish.push((keys::node_channel(&old.node), message.encode()));
                    }
                }
                Event::Detached(i) => {
                    f.srem.push(reference());
                    f.zadd.push((i.until_ms, reference()));
                }
                Event::Evicted { .. } | Event::KickedByAdmin(_) | Event::Removed { .. } | Event::Expired(_) => {
                    match &instance.holder {
                        Some(h) if h.node == self.node => f.srem.push(reference()),
                        Some(h) => {
                            let (kick_type, by) = match event {
                                Event::Evicted { by, .. } => (
                                    KickType::MultipleAccount,
                                    Some(Evictor {
                                        platform: by.platform,
                                        login_ms: by.login_ms,
                                    }),
                                ),
                                _ => kick.unwrap_or((KickType::RestApi, None)),
                            };
                            let message = NodeMessage::Kick {
                                conn: h.conn,
                                instance_id: instance.id.clone(),
                                seq: instance.seq,
                                kick_type,
                                by,
                            };
                            f.publish.push((keys::node_channel(&h.node), message.encode()));
                        }
                        None => f.zrem.push(reference()),
                    }
                }
            }
        }
        f
    }

    /// Runs followups that the write script did not (a cluster). Each is best effort: a lost kick is
    /// delivered by the receiving node's reconciliation, a stale index or detached entry is pruned by
    /// this node's reconciliation and the sweep.
    pub(super) async fn run_followups(&self, f: Followups) {
        let mut c = self.conn.clone();
        let index = keys::node_index(&self.node);
        for r in f.sadd {
            let mut cmd = redis::cmd("SADD");
            cmd.arg(&index).arg(r);
            let _ = self.guard("index", cmd.query_async::<i64>(&mut c)).await;
        }
        for r in f.srem {
            let mut cmd = redis::cmd("SREM");
            cmd.arg(&index).arg(r);
            let _ = self.guard("index", cmd.query_async::<i64>(&mut c)).await;
        }
        for (until, r) in f.zadd {
            let mut cmd = redis::cmd("ZADD");
            cmd.arg(keys::DETACHED).arg(until).arg(r);
            let _ = self.guard("detach", cmd.query_async::<i64>(&mut c)).await;
        }
        for r in f.zrem {
            let mut cmd = redis::cmd("ZREM");
            cmd.arg(keys::DETACHED).arg(r);
            let _ = self.guard("detach", cmd.query_async::<i64>(&mut c)).await;
        }
        let command = if self.cluster { "SPUBLISH" } else { "PUBLISH" };
        for (channel, message) in f.publish {
            let mut cmd = redis::cmd(command);
            cmd.arg(channel).arg(message);
            let _ = self.guard("publish", cmd.query_async::<i64>(&mut c)).await;
        }
    }

    /// This node's own bookkeeping for an operation's events (no Redis call): the admission sequence of
    /// its new instances, the instances it no longer holds; returns the removed instances (this node's
    /// attached ones with their connection, for the caller's kick) and the connection a resume replaced.
    fn deliver(&self, events: &[Event]) -> Delivered {
        let mut out = Delivered::default();
        for event in events {
            let instance = event.instance();
            match event {
                Event::Admitted(i) | Event::Resumed { instance: i, .. } => {
                    if let Some(h) = &i.holder {
                        if let Some(local) = self.local().get_mut(&h.conn) {
                            if local.instance_id == i.id {
                                local.seq = i.seq;
                            }
                        }
                    }
                    if let Event::Resumed {
                        replaced: Some(old), ..
                    } = event
                    {
                        if old.node == self.node {
                            self.forget(old.conn, &i.id);
                            out.replaced_conn = Some(old.conn);
                        }
                    }
                }
                Event::Detached(_) => {}
                Event::Evicted { .. } | Event::KickedByAdmin(_) | Event::Removed { .. } | Event::Expired(_) => {
                    let mut evicted = Evicted {
                        instance_id: instance.id.clone(),
                        conn: None,
                        platform: instance.platform,
                        ip: instance.ip,
                    };
                    if let Some(h) = instance.holder.as_ref().filter(|h| h.node == self.node) {
                        self.forget(h.conn, &instance.id);
                        evicted.conn = Some(h.conn);
                    }
                    out.removed.push(evicted);
                }
            }
        }
        out
    }

    fn holder(&self, conn: ConnId) -> HolderMatch {
        HolderMatch::Exact(Holder {
            node: self.node.clone(),
            conn,
        })
    }

    pub(super) async fn admit(&self, req: AdmitRequest) -> Result<Admission, AdmitError> {
        if self.fenced.load(Ordering::SeqCst) {
            return Err(AdmitError::Unavailable);
        }
        let mut limit = req.limit.max(1);
        // Known before the reply, so that a kick racing the reply (from a login on another node) is applied;
        // indexed before the write, so that an admission whose answer is lost is still found by this
        // node's reconciliation.
        self.local().insert(
            req.conn,
            Local {
                account: req.account.clone(),
                instance_id: req.instance_id.clone(),
                seq: 0,
                platform: req.platform,
                ip: req.ip,
            },
        );
        if self.cluster {
            // On a cluster the settings key and the node's index are in other slots: read and index
            // just before (together), rather than inside the read of the ledger.
            let (app_limit, indexed) = tokio::join!(
                self.app_limit(req.account.sdk_app_id),
                self.index_add(&req.account, &req.instance_id)
            );
            let refused = app_limit.and_then(|n| indexed.map(|()| n));
            match refused {
                Ok(Some(n)) => limit = n as usize,
                Ok(None) => {}
                Err(e) => {
                    self.forget(req.conn, &req.instance_id);
                    return Err(e.into());
                }
            }
        }
        let holder = Holder {
            node: self.node.clone(),
            conn: req.conn,
        };
        let applied = self
            .apply_op(&req.account, Some(&req.instance_id), None, |read| {
                Op::Admit(ledger::Admit {
                    id: req.instance_id.clone(),
                    presented: req.presented,
                    holder: holder.clone(),
                    platform: req.platform,
                    limit: read.app_limit.map_or(limit, |n| n as usize),
                    sig_time: req.sig_time,
                    ip: Some(req.ip),
                })
            })
            .await;
        let events = match applied {
            Ok((events, _)) => events,
            Err(e) => {
                self.forget(req.conn, &req.instance_id);
                self.index_remove(&req.account, &req.instance_id).await;
                return Err(match e {
                    ApplyError::Refused(Refusal::Revoked) => AdmitError::Revoked,
                    ApplyError::Refused(Refusal::InstanceGone) => AdmitError::InstanceGone,
                    ApplyError::Unavailable => AdmitError::Unavailable,
                });
            }
        };
        let resumed = matches!(events.first(), Some(Event::Resumed { .. }));
        let delivered = self.deliver(&events);
        Ok(Admission {
            resumed,
            replaced_conn: delivered.replaced_conn,
            evicted: delivered.removed,
        })
    }

    pub(super) async fn remove(
        &self,
        account: &AccountKey,
        instance_id: &str,
        conn: ConnId,
        kick: Option<KickType>,
    ) -> Result<bool, Unavailable> {
        let holder = self.holder(conn);
        let why = kick.map_or(Leave::Idle, Leave::Kick);
        let applied = self
            .apply_op(account, None, None, |_| Op::Remove {
                id: instance_id.to_string(),
                holder: holder.clone(),
                why,
            })
            .await;
        // Until the registry confirms, the instance stays this node's (its connection is gone): the
        // caller retries, and reconciliation must not take it for a ghost meanwhile.
        let (events, _) = applied.map_err(|_| Unavailable)?;
        self.forget(conn, instance_id);
        if events.is_empty() {
            // Removed by someone else first: their write did not touch this node's index.
            self.index_remove(account, instance_id).await;
        }
        Ok(!events.is_empty())
    }

    /// Removes the instance if `holder` holds it (no kick: its connection is gone) and unindexes it.
    pub(super) async fn remove_where(
        &self,
        account: &AccountKey,
        instance_id: &str,
        holder: HolderMatch,
    ) -> Result<(), ApplyError> {
        self.apply_op(account, None, None, |_| Op::Remove {
            id: instance_id.to_string(),
            holder: holder.clone(),
            why: Leave::Idle,
        })
        .await?;
        self.index_remove(account, instance_id).await;
        Ok(())
    }

    pub(super) async fn detach(
        &self,
        account: &AccountKey,
        instance_id: &str,
        conn: ConnId,
        grace_ms: u64,
    ) -> Result<bool, Unavailable> {
        // As for `remove`: forgotten once the registry confirms.
        let detached = self
            .detach_where(account, instance_id, self.holder(conn), grace_ms)
            .await?;
        self.forget(conn, instance_id);
        if !detached {
            self.index_remove(account, instance_id).await;
        }
        Ok(detached)
    }

    /// Detaches the instance if `holder` holds it (its grace starts now); `Ok(true)` when it did.
    pub(super) async fn detach_where(
        &self,
        account: &AccountKey,
        instance_id: &str,
        holder: HolderMatch,
        grace_ms: u64,
    ) -> Result<bool, Unavailable> {
        let applied = self
            .apply_op(account, None, None, |_| Op::Detach {
                id: instance_id.to_string(),
                holder: holder.clone(),
                grace_ms,
            })
            .await;
        let (events, _) = applied.map_err(|_| Unavailable)?;
        self.deliver(&events);
        Ok(!events.is_empty())
    }

    pub(super) async fn kick_account(
        &self,
        account: &AccountKey,
        revoke_time_secs: u64,
    ) -> Result<Kicked, Unavailable> {
        let applied = self
            .apply_op(account, None, Some((KickType::RestApi, None)), |_| Op::KickAll {
                revoke_secs: revoke_time_secs,
            })
            .await;
        let (events, _) = applied.map_err(|_| Unavailable)?;
        let removed = self.deliver(&events).removed;
        let replicated = self.wait_for_replicas(account).await;
        Ok(Kicked { removed, replicated })
    }

    /// With `wait_replicas` set: waits (at most `timeout_ms`) until that many replicas have every write of
    /// the account's master (Redis `WAIT`, sent to the master of the account's slot on a cluster). False
    /// when fewer did (or `WAIT` failed): the kick took effect on the master but a failover could still
    /// lose it; retrying it is safe (a kick and its revocation are idempotent).
    async fn wait_for_replicas(&self, account: &AccountKey) -> bool {
        let want = self.config.wait_replicas;
        if want == 0 {
            return true;
        }
        let mut wait = redis::cmd("WAIT");
        wait.arg(want).arg(self.config.timeout_ms);
        let limit = Duration::from_millis(self.config.timeout_ms.saturating_mul(2));
        let acked: Result<i64, Unavailable> = match &self.conn {
            Conn::Single(c) => {
                let mut c = c.clone();
                self.guard_for("wait", limit, wait.query_async(&mut c)).await
            }
            Conn::Cluster(c) => {
                use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
                let slot = Slot::for_key(keys::AccountKeys::new(account).ledger);
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::with_slot(
                    slot,
                    SlotAddr::Master,
                )));
                let mut c = c.clone();
                let value = self.guard_for("wait", limit, c.route_command(wait, route)).await;
                value.and_then(|v| redis::from_redis_value(v).map_err(|_| Unavailable))
            }
        };
        let replicated = acked.is_ok_and(|n| n >= i64::from(want));
        if !replicated {
            tracing::warn!(?acked, want, user = %account.user_id, "registry: a kick is not confirmed on wait_replicas replicas");
        }
        replicated
    }

    /// Frees what is due; `Err` only when nothing could be read (what a pass freed before Redis stopped
    /// answering is returned, so that each freed instance is reported once).
    pub(super) async fn expire_detached(&self, now_ms: u64) -> Result<Vec<Expired>, Unavailable> {
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
        let due = self
            .guard("expire", cmd.query_async::<Vec<(String, String)>>(&mut c))
            .await?;
        let mut freed = Vec::new();
        for (member, score) in due {
            let Some((account, _)) = keys::parse_instance_ref(&member) else {
                continue;
            };
            // Redis's clock decides what is due (the ledger's `now`); this node's only picks candidates.
            let Ok((events, _)) = self.apply_op(&account, None, None, |_| Op::Expire).await else {
                return Ok(freed);
            };
            for event in &events {
                if let Event::Expired(i) = event {
                    freed.push(Expired {
                        account: account.clone(),
                        instance_id: i.id.clone(),
                        platform: i.platform,
                        ip: i.ip,
                    });
                }
            }
            self.deliver(&events);
            // The entry leaves the set unless a newer detach rewrote it with a later score.
            let mut invocation = self.scripts.zrem_if_score.prepare_invoke();
            invocation.key(keys::DETACHED).arg(&member).arg(&score);
            let _ = self.guard("expire", invocation.invoke_async::<i64>(&mut c)).await;
        }
        Ok(freed)
    }

    pub(super) async fn revoked_at(&self, account: &AccountKey) -> Result<Option<u64>, Unavailable> {
        Ok(self.read_ledger(account, None).await?.ledger.revoked_at)
    }

    pub(super) async fn instances(&self, account: &AccountKey) -> Result<Vec<InstanceInfo>, Unavailable> {
        let read = self.read_ledger(account, None).await?;
        Ok(read
            .ledger
            .instances
            .into_iter()
            .map(|i| InstanceInfo {
                instance_id: i.id,
                platform: i.platform,
                logged_in_at_ms: i.login_ms,
                conn: i.holder.as_ref().map(|h| h.conn),
                ip: i.ip,
                node: i.holder.map(|h| h.node).filter(|n| *n != self.node),
            })
            .collect())
    }

    pub(super) async fn app_limit(&self, sdk_app_id: u64) -> Result<Option<u32>, Unavailable> {
        let mut c = self.conn.clone();
        let mut cmd = redis::cmd("HGET");
        cmd.arg(keys::app_settings(sdk_app_id)).arg("owi");
        let value: Option<u32> = self.guard("settings", cmd.query_async(&mut c)).await?;
        Ok(value)
    }

    pub(super) async fn message_seq(&self, sdk_app_id: u64, a: &str, b: &str) -> Result<u64, Unavailable> {
        let mut c = self.conn.clone();
        let key = keys::conversation_seq(sdk_app_id, a, b);
        // Bounded: a conversation idle for a week starts its sequence again.
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("INCR")
            .arg(&key)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(keys::CONVERSATION_SEQ_TTL_MS)
            .ignore();
        let (seq,): (u64,) = self.guard("message_seq", pipe.query_async(&mut c)).await?;
        Ok(seq)
    }

    pub(super) async fn set_app_limit(&self, sdk_app_id: u64, limit: u32) -> Result<(), Unavailable> {
        let mut c = self.conn.clone();
        let mut cmd = redis::cmd("HSET");
        cmd.arg(keys::app_settings(sdk_app_id)).arg("owi").arg(limit);
        self.guard("settings", cmd.query_async::<i64>(&mut c)).await.map(|_| ())
    }

    pub(super) fn render_metrics(&self) -> String {
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
            "tim_registry_fenced",
            "gauge",
            "1 while this node has fenced itself (liveness not renewed): its sessions were closed, logins are refused.",
            &[("", u64::from(self.fenced.load(Ordering::SeqCst)))],
        );
        line(
            "tim_registry_fences_total",
            "counter",
            "Times this node fenced itself.",
            &[("", load(&s.fences))],
        );
        line(
            "tim_registry_ghosts_removed_total",
            "counter",
            "Instances Redis gave to this node that no connection here held (an answer lost), removed by reconciliation.",
            &[("", load(&s.ghosts_removed))],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
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
    }
}
