//! The Redis registry: N tim-server nodes on one Redis 7 (or a Redis Cluster) with the rule of one node.
//!
//! Every state change of an account runs the account ledger (`ledger`, the rule the memory engine runs
//! too) between a read of the account's key and a write that Redis accepts only if the key is unchanged
//! and the writer's deadline has not passed (`store`), so Redis orders concurrent logins from any
//! node, each evicted instance is returned by exactly one call, and a call that timed out never takes
//! effect later.
//!
//! Kicks for instances held by another node travel on that node's pub/sub channel (sharded pub/sub on a
//! cluster), fenced by instance id and admission sequence; `bus` receives them, keeps the node's
//! liveness key, reconciles the node's instances with Redis (on every (re)subscribe and periodically) and
//! purges dead nodes. When Redis does not answer, logins get 80012 and open sessions stay.

mod bus;
mod inner;
mod keys;
mod kicks;
mod store;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tim_protocol::{KickType, ServerFrame};

use self::inner::{connect, Inner, NodeMessage};
use super::kicks::KickRecord;
use super::ledger::Policy;
use super::{
    AccountKey, Admission, AdmitError, AdmitRequest, Answer, ConnId, Expired, InstanceInfo, Kicked, Registry,
    RegistryFuture,
};
use crate::clock::Clock;
use crate::config::RegistryConfig;
use crate::hub::Hub;

/// The Redis [`Registry`].
pub struct RedisRegistry {
    inner: Arc<Inner>,
}

impl RedisRegistry {
    /// Connects (failing when Redis cannot be reached at start), purges what a previous process with this
    /// node id left, and starts the subscriber, heartbeat, reconciliation and dead-node purge.
    pub async fn start(
        config: &RegistryConfig,
        node: String,
        hub: Arc<Hub>,
        resume_grace_ms: u64,
        policy: Policy,
        clock: Clock,
    ) -> Result<RedisRegistry, String> {
        let target = config.url.clone().unwrap_or_else(|| config.cluster.join(","));
        let conn = connect(config, None)
            .await
            .map_err(|e| format!("cannot reach Redis at {target}: {e}"))?;
        let inner = Arc::new(Inner::new(conn, config, node, hub, resume_grace_ms, policy, clock));
        // A restart under a fixed node_id: the old process's connections are gone; give their clients the
        // resume grace, as for any dead node.
        bus::heartbeat(&inner)
            .await
            .map_err(|_| format!("cannot renew this node's liveness on Redis at {target}"))?;
        bus::purge_node(&inner, &inner.node.clone())
            .await
            .map_err(|_| format!("cannot purge this node's previous instances on Redis at {target}"))?;
        bus::spawn(Arc::clone(&inner))
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

/// Detaches an instance held by (node, conn) — conn `*`: any of the node's — until `until_ms`, and lists
/// it among the detached so that some node frees it when the grace ends.
impl Registry for RedisRegistry {
    fn admit(&self, req: AdmitRequest) -> RegistryFuture<'_, Result<Admission, AdmitError>> {
        Box::pin(self.inner.admit(req))
    }

    // The ledger's time is Redis's own (read with the ledger), not the caller's `now_ms`.
    fn release(&self, account: &AccountKey, instance_id: &str, conn: ConnId, _now_ms: u64) -> Answer<'_, bool> {
        let (account, instance_id) = (account.clone(), instance_id.to_string());
        Box::pin(async move { self.inner.remove(&account, &instance_id, conn, None).await })
    }

    fn detach(
        &self,
        account: &AccountKey,
        instance_id: &str,
        conn: ConnId,
        grace_ms: u64,
        _now_ms: u64,
    ) -> Answer<'_, bool> {
        let (account, instance_id) = (account.clone(), instance_id.to_string());
        Box::pin(async move { self.inner.detach(&account, &instance_id, conn, grace_ms).await })
    }

    fn remove_instance(
        &self,
        account: &AccountKey,
        instance_id: &str,
        conn: ConnId,
        kick: Option<KickType>,
        _now_ms: u64,
    ) -> Answer<'_, bool> {
        let (account, instance_id) = (account.clone(), instance_id.to_string());
        Box::pin(async move { self.inner.remove(&account, &instance_id, conn, kick).await })
    }

    fn kick_account(&self, account: &AccountKey, revoke_time_secs: u64, _now_ms: u64) -> Answer<'_, Kicked> {
        let account = account.clone();
        Box::pin(async move { self.inner.kick_account(&account, revoke_time_secs).await })
    }

    fn expire_detached(&self, now_ms: u64) -> Answer<'_, Vec<Expired>> {
        Box::pin(self.inner.expire_detached(now_ms))
    }

    fn revoked_at(&self, account: &AccountKey) -> Answer<'_, Option<u64>> {
        let account = account.clone();
        Box::pin(async move { self.inner.revoked_at(&account).await })
    }

    fn instances(&self, account: &AccountKey) -> Answer<'_, Vec<InstanceInfo>> {
        let account = account.clone();
        Box::pin(async move { self.inner.instances(&account).await })
    }

    fn take_lost(&self) -> Vec<Expired> {
        self.inner.take_lost()
    }

    fn instance_count(&self) -> RegistryFuture<'_, usize> {
        let count = self.inner.local().len();
        Box::pin(std::future::ready(count))
    }

    fn app_limit(&self, sdk_app_id: u64) -> Answer<'_, Option<u32>> {
        Box::pin(self.inner.app_limit(sdk_app_id))
    }

    fn set_app_limit(&self, sdk_app_id: u64, limit: u32) -> Answer<'_, ()> {
        Box::pin(self.inner.set_app_limit(sdk_app_id, limit))
    }

    fn message_seq(&self, sdk_app_id: u64, a: &str, b: &str) -> Answer<'_, u64> {
        let (a, b) = (a.to_string(), b.to_string());
        Box::pin(async move { self.inner.message_seq(sdk_app_id, &a, &b).await })
    }

    fn record_kick(&self, record: KickRecord) -> Answer<'_, ()> {
        Box::pin(kicks::record(&self.inner, record))
    }

    fn recent_kicks(&self, account: &AccountKey) -> Answer<'_, Vec<KickRecord>> {
        let account = account.clone();
        Box::pin(async move { kicks::of(&self.inner, &account).await })
    }

    fn relay(&self, node: &str, conn: ConnId, instance_id: &str, frame: &ServerFrame) -> Answer<'_, ()> {
        let node = node.to_string();
        let message = NodeMessage::Push {
            conn,
            instance_id: instance_id.to_string(),
            frame: frame.encode(),
        };
        Box::pin(async move {
            self.inner.stats.messages_relayed.fetch_add(1, Ordering::Relaxed);
            self.inner.publish(&node, &message).await
        })
    }

    fn is_ready(&self) -> bool {
        self.inner.health.is_up() && !self.inner.fenced.load(Ordering::SeqCst)
    }

    fn render_metrics(&self) -> String {
        self.inner.render_metrics()
    }
}
