//! The session registry: which instances of which account are live, and whom a login evicts.
//!
//! [`Registry::admit`] is the central operation: "admit this instance; tell me whom to evict". It is
//! atomic per account by contract: under any concurrency, after every admission at most `limit`
//! instances live, the evicted are the earliest-logged-in, and an instance is returned as evicted by
//! exactly one call (so it receives exactly one kick). The registry stores state only; delivering kicks to
//! connections is the caller's job (see `hub`), so that a shared (e.g. Redis) implementation can follow:
//! its `admit` would be one Lua script over a sorted set per account, and kicks would travel by pub/sub.
//!
//! Instance states: *attached* (a connection holds it) or *detached* (its connection dropped without
//! logout; it keeps its slot until `detached_until_ms`, so that a reconnect can resume it).

pub mod memory;

use std::future::Future;
use std::pin::Pin;

use tim_protocol::{KickType, Platform};

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
    /// The presented instance id was kicked or evicted by this server (80007).
    InstanceGone,
    /// The UserSig was issued at or before the account's last REST kick (70052).
    Revoked,
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
}

/// The session registry. Every method is atomic with respect to the others for the account it names.
pub trait Registry: Send + Sync + 'static {
    /// Admits an instance, resuming it if `presented` and live, else adding it and evicting the earliest
    /// instances beyond `limit`. See the module docs for the contract.
    fn admit(&self, req: AdmitRequest) -> RegistryFuture<'_, Result<Admission, AdmitError>>;

    /// Logout: removes the instance if `conn` holds it. True when it was removed.
    fn release(&self, account: &AccountKey, instance_id: &str, conn: ConnId) -> RegistryFuture<'_, bool>;

    /// The connection dropped without logout: keeps the slot until `until_ms` if `conn` still holds it.
    fn detach(&self, account: &AccountKey, instance_id: &str, conn: ConnId, until_ms: u64) -> RegistryFuture<'_, bool>;

    /// Kicks one instance held by `conn` (UserSig expiry, idle timeout): removes it and, for a kick,
    /// remembers the id so that its resume is refused. True when this call removed it.
    fn remove_instance(
        &self,
        account: &AccountKey,
        instance_id: &str,
        conn: ConnId,
        kick: Option<KickType>,
    ) -> RegistryFuture<'_, bool>;

    /// REST kick: removes every instance of the account, remembers their ids as kicked, and refuses
    /// UserSigs with `TLS.time <= revoke_time_secs` from now on. Returns the removed instances.
    fn kick_account(&self, account: &AccountKey, revoke_time_secs: u64) -> RegistryFuture<'_, Vec<Evicted>>;

    /// Frees detached instances whose grace ended before `now_ms`; returns them. Each freed instance is
    /// returned by exactly one call, on one node (that node sends its `Disconnect` callback).
    fn expire_detached(&self, now_ms: u64) -> RegistryFuture<'_, Vec<Expired>>;

    /// The account's last REST kick (`revoke_time_secs` of [`Registry::kick_account`]), if any: UserSigs
    /// with `TLS.time` at or before it are refused, the admin API's included.
    fn revoked_at(&self, account: &AccountKey) -> RegistryFuture<'_, Option<u64>>;

    /// The live (attached or detached) instances of an account, earliest first.
    fn instances(&self, account: &AccountKey) -> RegistryFuture<'_, Vec<InstanceInfo>>;

    /// Number of live instances of all accounts.
    fn instance_count(&self) -> RegistryFuture<'_, usize>;
}
