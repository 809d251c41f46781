//! The Redis registry's background work on each node:
//!
//! - the subscriber: a RESP3 connection subscribed to this node's channel (`SSUBSCRIBE` on a cluster),
//!   resubscribed by redis-rs after every reconnect; each confirmed (re)subscription triggers a
//!   reconciliation, because messages published while it was down are lost;
//! - reconciliation every `reconcile_interval_ms`: each instance this node holds is checked against its
//!   Redis record; one evicted or kicked meanwhile gets its kick, one that Redis gives to another
//!   connection (or lost) is closed without a kick so that its client resumes;
//! - the heartbeat every `node_ttl_ms / 3`: this node's liveness key (TTL `node_ttl_ms`) and, for every
//!   other node whose key has expired, the purge: its instances keep their slots for the resume grace
//!   (their clients resume on another node), then the detached sweep frees them.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;

use super::inner::{connect, Conn, Inner, Local, NodeMessage};
use super::keys;
use crate::hub::Control;
use crate::registry::ledger::HolderMatch;
use crate::registry::{ConnId, Evictor, Expired, Unavailable};

/// Subscribes (failing if that is impossible at start) and spawns the background tasks.
pub(super) async fn spawn(inner: Arc<Inner>) -> Result<(), String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut sub = connect(&inner.config, Some(tx)).await.map_err(|e| e.to_string())?;
    subscribe(&mut sub, &keys::node_channel(&inner.node))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(receive(Arc::clone(&inner), rx));
    tokio::spawn(reconcile_periodically(Arc::clone(&inner), sub));
    tokio::spawn(fence_when_cut_off(Arc::clone(&inner)));
    tokio::spawn(purge_dead_nodes_periodically(Arc::clone(&inner)));
    tokio::spawn(heartbeat_periodically(inner));
    Ok(())
}

async fn receive(inner: Arc<Inner>, mut rx: mpsc::UnboundedReceiver<PushInfo>) {
    while let Some(push) = rx.recv().await {
        match push.kind {
            PushKind::Message | PushKind::SMessage => {
                let payload = push.data.get(1).and_then(|v| match v {
                    Value::BulkString(bytes) => std::str::from_utf8(bytes).ok().map(str::to_string),
                    Value::SimpleString(s) => Some(s.clone()),
                    _ => None,
                });
                match payload.as_deref().and_then(NodeMessage::decode) {
                    Some(message) => inner.apply(message),
                    None => tracing::warn!("registry: unreadable message on this node's channel"),
                }
            }
            PushKind::Subscribe | PushKind::SSubscribe => {
                inner.stats.subscribed.store(true, Ordering::SeqCst);
                let n = inner.stats.subscriptions.fetch_add(1, Ordering::Relaxed);
                if n > 0 {
                    tracing::info!("registry: resubscribed to this node's channel; reconciling");
                }
                tokio::spawn(reconcile_owned(Arc::clone(&inner)));
            }
            PushKind::Disconnection => {
                inner.stats.subscribed.store(false, Ordering::SeqCst);
                tracing::warn!(
                    "registry: subscriber connection lost; redis-rs reconnects, reconciliation covers the gap"
                );
            }
            _ => {}
        }
    }
}

async fn reconcile_owned(inner: Arc<Inner>) {
    reconcile(&inner).await;
}

async fn reconcile_periodically(inner: Arc<Inner>, mut sub: Conn) {
    let mut tick = tokio::time::interval(Duration::from_millis(inner.config.reconcile_interval_ms));
    let limit = Duration::from_millis(inner.config.timeout_ms);
    let channel = keys::node_channel(&inner.node);
    tick.tick().await;
    loop {
        tick.tick().await;
        if inner.stats.subscribed.load(Ordering::SeqCst) {
            // A PING on the subscriber makes redis-rs notice a dead connection (reconnect, resubscribe).
            let _ = tokio::time::timeout(limit, redis::cmd("PING").query_async::<Value>(&mut sub)).await;
        } else {
            // Not confirmed (a resubscribe after reconnect failed, e.g. an ACL change): subscribe again.
            let _ = tokio::time::timeout(limit, subscribe(&mut sub, &channel)).await;
        }
        reconcile(&inner).await;
    }
}

async fn subscribe(sub: &mut Conn, channel: &str) -> redis::RedisResult<()> {
    match sub {
        Conn::Single(c) => c.subscribe(channel).await,
        Conn::Cluster(c) => c.ssubscribe(channel).await,
    }
}

/// Instances checked at a time by one reconciliation pass: the reads share the multiplexed connection,
/// so a pass over many thousands of instances costs a few round trips, not one per instance.
const RECONCILE_IN_FLIGHT: usize = 64;

/// Checks every instance this node holds against Redis; see the module docs. Stops the pass at the first
/// failed read (Redis down: nothing is decided, open sessions stay).
pub(super) async fn reconcile(inner: &Inner) {
    let held: Vec<_> = inner
        .local()
        .iter()
        .filter(|(_, l)| l.seq != 0)
        .map(|(&conn, l)| (conn, l.clone()))
        .collect();
    let mut checks = futures_util::stream::iter(held)
        .map(|(conn, local)| reconcile_one(inner, conn, local))
        .buffer_unordered(RECONCILE_IN_FLIGHT);
    while let Some(checked) = checks.next().await {
        if checked.is_err() {
            return;
        }
    }
    if prune_index(inner).await.is_err() {
        return;
    }
    inner.stats.reconciliations.fetch_add(1, Ordering::Relaxed);
}

/// Compares this node's index with its live connections, so that nothing this node once wrote outlives
/// its reason: an entry whose instance is gone or held elsewhere leaves the index; an instance that Redis
/// gives to a connection of this node that holds nothing (an admission whose answer was lost, a release
/// that failed while Redis was unreachable) is removed once two passes in a row find it so (an operation
/// in flight between its steps is never taken for one). `Err` when Redis did not answer.
async fn prune_index(inner: &Inner) -> Result<(), ()> {
    // A fenced node closed its sessions on purpose: what Redis still gives it gets the resume grace when
    // the fence lifts (`heartbeat_periodically`), not a removal.
    if inner.fenced.load(Ordering::SeqCst) {
        inner.suspects().clear();
        return Ok(());
    }
    let mut c = inner.conn.clone();
    let mut members = redis::cmd("SMEMBERS");
    members.arg(keys::node_index(&inner.node));
    let refs: Vec<String> = inner
        .guard("reconcile", members.query_async(&mut c))
        .await
        .map_err(|_| ())?;
    let held: std::collections::HashSet<String> = inner
        .local()
        .values()
        .map(|l| keys::instance_ref(&l.account, &l.instance_id))
        .collect();
    let previous = std::mem::take(&mut *inner.suspects());
    let mut suspects = std::collections::HashSet::new();
    for r in refs.into_iter().filter(|r| !held.contains(r)) {
        let Some((account, id)) = keys::parse_instance_ref(&r) else {
            continue;
        };
        let read = inner.read_ledger(&account, None).await.map_err(|_| ())?;
        let holder = read.ledger.instance(&id).and_then(|i| i.holder.clone());
        match holder {
            Some(h) if h.node == inner.node && !previous.contains(&r) => {
                suspects.insert(r);
            }
            Some(h) if h.node == inner.node => {
                tracing::warn!(instance = %id, user = %account.user_id, "registry: removing an instance no connection of this node holds");
                inner.stats.ghosts_removed.fetch_add(1, Ordering::Relaxed);
                inner
                    .remove_where(&account, &id, HolderMatch::Exact(h))
                    .await
                    .map_err(|_| ())?;
            }
            _ => {
                let mut rem = redis::cmd("SREM");
                rem.arg(keys::node_index(&inner.node)).arg(&r);
                inner
                    .guard("reconcile", rem.query_async::<i64>(&mut c))
                    .await
                    .map_err(|_| ())?;
            }
        }
    }
    *inner.suspects() = suspects;
    Ok(())
}

/// Checks one held instance; `Err` when Redis did not answer.
async fn reconcile_one(inner: &Inner, conn: ConnId, local: Local) -> Result<(), ()> {
    let read = inner.read_ledger(&local.account, None).await.map_err(|_| ())?;
    let instance = read.ledger.instance(&local.instance_id);
    let ours = instance.is_some_and(|i| {
        i.seq == local.seq
            && i.holder
                .as_ref()
                .is_some_and(|h| h.node == inner.node && h.conn == conn)
    });
    if ours {
        return Ok(());
    }
    let kick_type = match instance {
        Some(_) => None,
        None => read.ledger.kicked(&local.instance_id).map(|k| {
            let by = k.by.as_ref().map(|b| Evictor {
                platform: b.platform,
                login_ms: b.login_ms,
            });
            (k.kick_type, by)
        }),
    };
    let still_held = inner.local().get(&conn) == Some(&local);
    if !still_held {
        return Ok(());
    }
    inner.forget(conn, &local.instance_id);
    let instance_id = local.instance_id.clone();
    match kick_type {
        Some((kick_type, by)) => {
            inner.stats.kicks_by_reconciliation.fetch_add(1, Ordering::Relaxed);
            tracing::info!(conn, instance = %instance_id, "registry: kick delivered by reconciliation");
            inner.hub.control(
                conn,
                Control::Kick {
                    instance_id,
                    kick_type,
                    by,
                },
            );
        }
        None => {
            // Resumed elsewhere, or its record was lost: close without a kick; the client resumes.
            // Lost means the account's admission counter went back below this instance's (Redis
            // restarted without persistence, a failover lost the last writes): nobody reported its end,
            // so this node does (a resume that follows is a fresh login, with its own `Login`).
            if instance.is_none() && read.ledger.seq < local.seq {
                inner.lost(Expired {
                    account: local.account.clone(),
                    instance_id: instance_id.clone(),
                    platform: local.platform,
                    ip: Some(local.ip),
                });
            }
            inner.stats.replaced_by_reconciliation.fetch_add(1, Ordering::Relaxed);
            inner.hub.control(conn, Control::Replaced { instance_id });
        }
    }
    Ok(())
}

/// Renews the liveness key every `node_ttl_ms / 6`: three renewals may fail or be late before the node
/// fences itself (at two thirds of `node_ttl_ms`). Nothing else runs in this loop, so slow purges cannot delay it.
async fn heartbeat_periodically(inner: Arc<Inner>) {
    let mut tick = tokio::time::interval(Duration::from_millis((inner.config.node_ttl_ms / 6).max(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if heartbeat(&inner).await.is_err() {
            continue;
        }
        if inner.fenced.load(Ordering::SeqCst) {
            // Redis answers again. The sessions this node closed may not have resumed elsewhere: give
            // what Redis still says this node holds the resume grace, then admit again.
            if purge_node(&inner, &inner.node.clone()).await.is_ok() {
                inner.fenced.store(false, Ordering::SeqCst);
                tracing::warn!("registry: liveness renewed; this node admits logins again");
            }
        }
    }
}

/// Every `node_ttl_ms / 3`: the instances of nodes whose liveness key expired get the resume grace.
async fn purge_dead_nodes_periodically(inner: Arc<Inner>) {
    let mut tick = tokio::time::interval(Duration::from_millis((inner.config.node_ttl_ms / 3).max(200)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !inner.fenced.load(Ordering::SeqCst) {
            let _ = purge_dead_nodes(&inner).await;
        }
    }
}

/// Self-fencing: a node that could not renew its liveness key for two thirds of `node_ttl_ms` closes every session
/// it holds (1012: the client resumes at once, on another node where there is one) and refuses logins,
/// before any other node may purge it (the key lives `node_ttl_ms` from its last renewal). So an instance
/// evicted by a login on another node while this node is cut off stays live at most `2 * node_ttl_ms / 3` plus
/// one check (100 ms): more than N live instances of an account exist only within that bound.
async fn fence_when_cut_off(inner: Arc<Inner>) {
    let fence_after = Duration::from_millis(inner.config.node_ttl_ms * 2 / 3);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        let silent = inner.last_renewal().elapsed();
        if silent < fence_after || inner.fenced.swap(true, Ordering::SeqCst) {
            continue;
        }
        let held: Vec<(ConnId, Local)> = inner.local().drain().collect();
        inner.stats.fences.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            silent_ms = silent.as_millis() as u64,
            sessions = held.len(),
            "registry: liveness not renewed; closing this node's sessions so that they resume elsewhere, refusing logins"
        );
        for (conn, local) in held {
            inner.hub.control(
                conn,
                Control::Move {
                    instance_id: local.instance_id,
                },
            );
        }
    }
}

/// Refreshes this node's liveness key and its entry in the node list.
pub(super) async fn heartbeat(inner: &Inner) -> Result<(), Unavailable> {
    // The renewal counts from before it is sent: Redis starts the key's TTL later than that.
    let sent = std::time::Instant::now();
    let mut c = inner.conn.clone();
    let mut set = redis::cmd("SET");
    set.arg(keys::node_alive(&inner.node))
        .arg(inner.clock.unix_ms())
        .arg("PX")
        .arg(inner.config.node_ttl_ms);
    inner.guard("heartbeat", set.query_async::<Value>(&mut c)).await?;
    inner.renewed(sent);
    let mut add = redis::cmd("ZADD");
    add.arg(keys::NODES).arg(inner.clock.unix_ms()).arg(&inner.node);
    inner.guard("heartbeat", add.query_async::<i64>(&mut c)).await?;
    Ok(())
}

async fn purge_dead_nodes(inner: &Inner) -> Result<(), Unavailable> {
    let mut c = inner.conn.clone();
    let mut list = redis::cmd("ZRANGE");
    list.arg(keys::NODES).arg(0).arg(-1);
    let nodes = inner.guard("nodes", list.query_async::<Vec<String>>(&mut c)).await?;
    for node in nodes.into_iter().filter(|n| *n != inner.node) {
        let mut exists = redis::cmd("EXISTS");
        exists.arg(keys::node_alive(&node));
        if inner.guard("nodes", exists.query_async::<i64>(&mut c)).await? != 0 {
            continue;
        }
        // Only a complete purge takes the node off the list; a partial one is finished next time.
        let detached = purge_node(inner, &node).await?;
        let mut remove = redis::cmd("ZREM");
        remove.arg(keys::NODES).arg(&node);
        inner.guard("nodes", remove.query_async::<i64>(&mut c)).await?;
        inner.stats.dead_nodes_purged.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(node = %node, detached, "registry: node is dead; its instances keep their slots for the resume grace");
    }
    Ok(())
}

/// Detaches every attached instance `node` holds (resume grace from now); returns how many. The node's
/// index is dropped only once every entry was handled.
pub(super) async fn purge_node(inner: &Inner, node: &str) -> Result<usize, Unavailable> {
    let mut c = inner.conn.clone();
    let index = keys::node_index(node);
    let mut members = redis::cmd("SMEMBERS");
    members.arg(&index);
    let refs = inner.guard("purge", members.query_async::<Vec<String>>(&mut c)).await?;
    let mut detached = 0;
    for r in &refs {
        if let Some((account, id)) = keys::parse_instance_ref(r) {
            let holder = HolderMatch::Node(node.to_string());
            if inner.detach_where(&account, &id, holder, inner.resume_grace_ms).await? {
                detached += 1;
            }
        }
    }
    let mut del = redis::cmd("DEL");
    del.arg(&index);
    inner.guard("purge", del.query_async::<i64>(&mut c)).await?;
    Ok(detached)
}
