//! The session registry: which instances of which account are live, and whom a login evicts.
//!
//! [`Registry::admit`] is the central operation: "admit this instance; tell me whom to evict". It is
//! atomic per account by contract: under any concurrency, after every admission at most `limit`
//! instances live, the evicted are the earliest-logged-in, and an instance is returned as evicted by
//! exactly one call (so it receives exactly one kick). A registry returns the evicted instances that this
//! process holds (`conn` set) and the caller delivers their kicks through the `hub`; a shared registry
//! ([`redis::RedisRegistry`]) delivers the kicks of instances held by other nodes itself, by pub/sub.
//!
//! A resume never evicts anyone: a presented id whose slot is held resumes it; one that was evicted or
//! kicked is refused (80007); one the registry does not know (grace over, state lost) is admitted as a
//! fresh login only while a slot is free, and refused (80007) otherwise.
//!
//! Instance states: *attached* (a connection holds it) or *detached* (its connection dropped without
//! logout; it keeps its slot until `detached_until_ms`, so that a reconnect can resume it).

pub mod kicks;
pub mod ledger;
#[cfg(test)]
mod ledger_model;
pub mod memory;
pub mod redis;

use crate::registry::kicks::KickRecord;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use tim_protocol::{KickType, Platform, ServerFrame};

/// A future returned by registry operations (boxed so that the trait stays object-safe).
pub type RegistryFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Identifies one connection of this server process.
pub type ConnId = u64;

/// An account: a UserID within an app.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountKey {
    /// SDKAppID.
    pub sdk_app_id: u64,
    /// UserID.
    pub user_id: String,
}

/// A request to admit an instance of an account.
#[derive(Debug, Clone)]
pub struct AdmitRequest {
    /// The account.
    pub account: AccountKey,
    /// The instance id: freshly generated, or presented by a reconnecting client.
    pub instance_id: String,
    /// True when the client presented `instance_id` (a reconnect); false for a fresh login.
    pub presented: bool,
    /// The connection that will hold the instance.
    pub conn: ConnId,
    /// The runtime the instance runs in.
    pub platform: Platform,
    /// `online_web_instances` of the app, read at this login.
    pub limit: usize,
    /// `TLS.time` of the UserSig; refused when at or before the account's last REST kick.
    pub sig_time: u64,
    /// Now, Unix milliseconds (the instance's login time when it is new).
    pub now_ms: u64,
    /// The client's address (kept with the instance for the state-change callbacks' `ClientIP`).
    pub ip: IpAddr,
}

/// An instance removed from the registry by someone else's operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evicted {
    /// Its instance id.
    pub instance_id: String,
    /// The connection holding it, if it was attached (that connection must be told).
    pub conn: Option<ConnId>,
    /// The runtime it ran in (for the state-change callback's `KickedDevice`).
    pub platform: Platform,
    /// The client address of its last connection, when known.
    pub ip: Option<IpAddr>,
}

/// The login that evicted an instance (multi-instance rule): its `kicked` frame names it, so that the
/// page can say "signed in on wx at 10:42".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evictor {
    /// The new instance's runtime.
    pub platform: Platform,
    /// Its login (admission) time, Unix milliseconds.
    pub login_ms: u64,
}

/// A detached instance freed by [`Registry::expire_detached`] because its resume grace ran out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// The account it belonged to.
    pub account: AccountKey,
    /// Its instance id.
    pub instance_id: String,
    /// The runtime it ran in.
    pub platform: Platform,
    /// The client address of its last connection, when known (the `Disconnect` callback's `ClientIP`).
    pub ip: Option<IpAddr>,
}

/// What a successful admission did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// True when a live instance with the presented id was taken over (its slot kept, nobody evicted).
    pub resumed: bool,
    /// On a resume: the connection that held the instance before, which must be closed without a kick.
    pub replaced_conn: Option<ConnId>,
    /// Instances evicted to make room, earliest first; each must get one kick of type `multipleAccount`.
    pub evicted: Vec<Evicted>,
}

/// Why an admission was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmitError {
    /// The presented instance id was kicked or evicted, or is unknown while every slot is taken (80007).
    InstanceGone,
    /// The UserSig was issued at or before the account's last REST kick (70052).
    Revoked,
    /// The shared registry (Redis) cannot be reached; retry later (80012).
    Unavailable,
}

/// One live instance, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInfo {
    /// Instance id.
    pub instance_id: String,
    /// Runtime.
    pub platform: Platform,
    /// Login time, Unix milliseconds.
    pub logged_in_at_ms: u64,
    /// The holding connection; `None` while detached.
    pub conn: Option<ConnId>,
    /// The node holding it when that is another node (shared registry); `None` for this process.
    pub node: Option<String>,
    /// The client address of its last connection (behind a proxy: the client's, not the proxy's).
    pub ip: Option<IpAddr>,
}

/// What a REST kick did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kicked {
    /// The instances it removed (this node's attached ones with their connection).
    pub removed: Vec<Evicted>,
    /// False when the kick took effect but fewer replicas than `wait_replicas` confirmed it in time (a
    /// failover could still lose it); the memory engine has no replicas and answers true.
    pub replicated: bool,
}

/// The registry could not answer: Redis is down or did not answer in time. A write that timed out did
/// nothing (its deadline on Redis's clock passed), so the caller knows where it stands: it refuses the
/// request (80012), retries an operation that must happen, or tells the admin API's caller. Never read as
/// "nothing there" or "someone else did it".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

impl From<Unavailable> for AdmitError {
    fn from(_: Unavailable) -> AdmitError {
        AdmitError::Unavailable
    }
}

impl From<AdmitError> for Unavailable {
    fn from(_: AdmitError) -> Unavailable {
        Unavailable
    }
}

/// A registry answer that can fail only by being unavailable.
pub type Answer<'a, T> = RegistryFuture<'a, Result<T, Unavailable>>;

/// The session registry. Every method is atomic with respect to the others for the account it names,
/// and every engine implements all of it: a caller never branches on which engine it has.
pub trait Registry: Send + Sync + 'static {
    /// Admits an instance, resuming it if `presented` and live, else adding it and evicting beyond
    /// `limit` (detached instances first). See the module docs for the contract.
    fn admit(&self, req: AdmitRequest) -> RegistryFuture<'_, Result<Admission, AdmitError>>;

    /// Logout: removes the instance if `conn` holds it. `Ok(true)` when this call removed it.
    fn release(&self, account: &AccountKey, instance_id: &str, conn: ConnId, now_ms: u64) -> Answer<'_, bool>;

    /// The connection dropped without logout: keeps the slot for `grace_ms` if `conn` still holds it.
    fn detach(
        &self,
        account: &AccountKey,
        instance_id: &str,
        conn: ConnId,
        grace_ms: u64,
        now_ms: u64,
    ) -> Answer<'_, bool>;

    /// Removes one instance held by `conn` (UserSig expiry with `kick`, idle timeout without); a kicked
    /// id is remembered so that its resume is refused. `Ok(true)` when this call removed it.
    fn remove_instance(
        &self,
        account: &AccountKey,
        instance_id: &str,
        conn: ConnId,
        kick: Option<KickType>,
        now_ms: u64,
    ) -> Answer<'_, bool>;

    /// REST kick: removes every instance of the account, remembers their ids as kicked, and refuses
    /// UserSigs with `TLS.time <= revoke_time_secs` from now on. Returns the removed instances.
    fn kick_account(&self, account: &AccountKey, revoke_time_secs: u64, now_ms: u64) -> Answer<'_, Kicked>;

    /// Frees detached instances whose grace ended before `now_ms`; returns them. Each freed instance is
    /// returned by exactly one call, on one node (that node sends its `Disconnect` callback).
    fn expire_detached(&self, now_ms: u64) -> Answer<'_, Vec<Expired>>;

    /// The account's last REST kick (`revoke_time_secs` of [`Registry::kick_account`]), if any.
    fn revoked_at(&self, account: &AccountKey) -> Answer<'_, Option<u64>>;

    /// The live (attached or detached) instances of an account, earliest first.
    fn instances(&self, account: &AccountKey) -> Answer<'_, Vec<InstanceInfo>>;

    /// Instances of this node the registry lost (its store forgot them: Redis restarted without
    /// persistence, a failover lost the last writes), each returned once; the caller reports their end.
    /// The memory engine never loses one.
    fn take_lost(&self) -> Vec<Expired>;

    /// Number of live instances this node holds.
    fn instance_count(&self) -> RegistryFuture<'_, usize>;

    /// The app's `OnlineWebInstances` as set through the admin API (every node reads it), if set.
    fn app_limit(&self, sdk_app_id: u64) -> Answer<'_, Option<u32>>;

    /// Stores the app's `OnlineWebInstances` where every node reads it.
    fn set_app_limit(&self, sdk_app_id: u64, limit: u32) -> Answer<'_, ()>;

    /// The next message sequence number of the C2C conversation between `a` and `b`: unique and
    /// increasing in the conversation across every node.
    fn message_seq(&self, sdk_app_id: u64, a: &str, b: &str) -> Answer<'_, u64>;

    /// Keeps a kick where every node's admin API reads it.
    fn record_kick(&self, record: KickRecord) -> Answer<'_, ()>;

    /// The account's recent kicks performed by any node, oldest first.
    fn recent_kicks(&self, account: &AccountKey) -> Answer<'_, Vec<KickRecord>>;

    /// Pushes `frame` to an instance held by another node (`node` and `conn` from [`InstanceInfo`]);
    /// best effort, as every push (a client that misses it is not told it was delivered).
    fn relay(&self, node: &str, conn: ConnId, instance_id: &str, frame: &ServerFrame) -> Answer<'_, ()>;

    /// True while the registry answers and this node may admit logins (the Redis engine: Redis answers
    /// and the node is not fenced).
    fn is_ready(&self) -> bool;

    /// Prometheus lines of the registry.
    fn render_metrics(&self) -> String;
}
