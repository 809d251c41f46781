//! An account's ledger in Redis: one key per account (a hash: `v` version, `d` the ledger as JSON)
//! under the account's hash tag. An operation reads it together with Redis's own time, runs the rule in
//! Rust ([`Ledger::apply`], the same code as the memory engine), and writes the result back only if
//! nobody wrote the key since the read (else it reads again) and only while the caller still waits for
//! the answer: the write carries a deadline on Redis's clock (the read's time plus the call timeout),
//! so a write that reaches Redis after this node gave up does nothing. A timed-out operation therefore
//! never takes effect later; when the answer to a write that did land is lost, the node's reconciliation
//! finds the instance in Redis without a connection here and removes it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use redis::Script;

use super::inner::Inner;
use super::keys::{self, AccountKeys};
use tim_protocol::KickType;

use crate::registry::ledger::{Event, Ledger, Op, Refusal};
use crate::registry::{AccountKey, Evictor, Unavailable};

/// Conflicting writers of one account are rare (two logins of one user at the same moment); past this
/// many rounds something is wrong and the caller gets an error, not a livelock.
const MAX_ROUNDS: usize = 32;

/// The two scripts of the ledger store.
pub(super) struct LedgerScripts {
    read: Script,
    write: Script,
}

impl LedgerScripts {
    pub fn new() -> LedgerScripts {
        LedgerScripts {
            read: Script::new(include_str!("lua/read.lua")),
            write: Script::new(include_str!("lua/write.lua")),
        }
    }
}

/// Why an operation did not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ApplyError {
    /// The rule refused it (the ledger is unchanged).
    Refused(Refusal),
    /// Redis did not answer in time, or answered too late: nothing was written.
    Unavailable,
}

impl From<Unavailable> for ApplyError {
    fn from(_: Unavailable) -> ApplyError {
        ApplyError::Unavailable
    }
}

/// An account's ledger as read, with Redis's time at the read.
pub(super) struct Read {
    version: String,
    pub ledger: Ledger,
    pub now_ms: u64,
    /// The app's shared `OnlineWebInstances`, when it was read with the ledger.
    pub app_limit: Option<u32>,
    /// When the answer came (this node's clock).
    received: Instant,
    /// Taken from this node's cache of what it last read or wrote, not from Redis: the write then checks
    /// the version (and, for an admission, the app's limit) as usual, and a mismatch means a real read.
    cached: bool,
}

/// Ledgers this node last read or wrote, with their version: an operation starts from them and writes
/// without reading first (a version mismatch sends it back to a real read). Bounded: past this many
/// accounts the cache starts over.
const CACHED_LEDGERS: usize = 100_000;

/// What a node remembers to write without reading first.
#[derive(Debug, Default)]
pub(super) struct LedgerCache {
    ledgers: HashMap<AccountKey, (String, Ledger)>,
    /// The app's `OnlineWebInstances` in the settings hash as last read (`None`: not set).
    app_limits: HashMap<u64, Option<u32>>,
    /// Redis's `TIME` at a read and when this node received it: Redis's time now is estimated from it.
    /// Redis took that time before this node received it, so the estimate is never ahead of Redis's
    /// clock by more than clock-rate drift, and a write deadline computed from it stays safe.
    clock: Option<(u64, Instant)>,
}

impl Inner {
    /// Reads the account's ledger. For an admission (`admitting`: the instance id) on one Redis, the same
    /// call reads the app's settings and indexes the instance under this node (on a cluster those keys
    /// live in other slots: the caller does both just before).
    pub(super) async fn read_ledger(&self, account: &AccountKey, admitting: Option<&str>) -> Result<Read, Unavailable> {
        let mut invocation = self.ledger_scripts.read.prepare_invoke();
        invocation.key(AccountKeys::new(account).ledger);
        if let (Some(id), false) = (admitting, self.cluster) {
            invocation
                .key(keys::app_settings(account.sdk_app_id))
                .key(keys::node_index(&self.node))
                .arg(keys::instance_ref(account, id));
        }
        let mut c = self.conn.clone();
        let (version, data, secs, micros, owi): (String, String, u64, u64, String) =
            self.guard("read", invocation.invoke_async(&mut c)).await?;
        self.read_from(account, admitting, version, &data, secs, micros, owi)
    }

    /// A [`Read`] from what Redis answered (a read, or a write that found the ledger changed), noted in
    /// the cache.
    #[allow(clippy::too_many_arguments)]
    fn read_from(
        &self,
        account: &AccountKey,
        admitting: Option<&str>,
        version: String,
        data: &str,
        secs: u64,
        micros: u64,
        owi: String,
    ) -> Result<Read, Unavailable> {
        let received = Instant::now();
        let ledger = if data.is_empty() {
            Ledger::default()
        } else {
            serde_json::from_str(data).map_err(|e| {
                tracing::error!(error = %e, user = %account.user_id, "registry: unreadable ledger in Redis");
                Unavailable
            })?
        };
        let read = Read {
            version,
            ledger,
            now_ms: secs * 1000 + micros / 1000,
            app_limit: owi.parse().ok(),
            received,
            cached: false,
        };
        let mut cache = self.ledger_cache();
        cache.clock = Some((read.now_ms, received));
        if admitting.is_some() && !self.cluster {
            cache.app_limits.insert(account.sdk_app_id, read.app_limit);
        }
        drop(cache);
        self.cache_ledger(account, Some((read.version.clone(), read.ledger.clone())));
        Ok(read)
    }

    /// The account's ledger as this node last read or wrote it, if it may start from it: Redis's time
    /// known, and for an admission on one Redis the app's limit known (the write checks both).
    fn cached_read(&self, account: &AccountKey, admitting: Option<&str>) -> Option<Read> {
        let cache = self.ledger_cache();
        let (version, ledger) = cache.ledgers.get(account)?.clone();
        let (redis_ms, at) = cache.clock?;
        let app_limit = match (admitting, self.cluster) {
            (Some(_), false) => *cache.app_limits.get(&account.sdk_app_id)?,
            _ => None,
        };
        let received = Instant::now();
        let now_ms = redis_ms + received.saturating_duration_since(at).as_millis() as u64;
        Some(Read {
            version,
            ledger,
            now_ms,
            app_limit,
            received,
            cached: true,
        })
    }

    /// Remembers the account's ledger at `version` (or forgets it: `None`).
    fn cache_ledger(&self, account: &AccountKey, entry: Option<(String, Ledger)>) {
        let mut cache = self.ledger_cache();
        match entry {
            Some(entry) => {
                if cache.ledgers.len() >= CACHED_LEDGERS && !cache.ledgers.contains_key(account) {
                    cache.ledgers.clear();
                }
                cache.ledgers.insert(account.clone(), entry);
            }
            None => {
                cache.ledgers.remove(account);
            }
        }
    }

    /// Applies `op` to the account's ledger; `op_for` makes the operation from what was read (an
    /// admission, `admitting` its instance id, takes the app's shared limit read with it). The Redis
    /// writes its events call for ([`Inner::followups`], `kick` naming the kick of instances removed on
    /// other nodes) run in the same script on one Redis, right after it on a cluster. Returns the events
    /// and Redis's time.
    pub(super) async fn apply_op(
        &self,
        account: &AccountKey,
        admitting: Option<&str>,
        kick: Option<(KickType, Option<Evictor>)>,
        op_for: impl Fn(&Read) -> Op,
    ) -> Result<(Vec<Event>, u64), ApplyError> {
        let key = AccountKeys::new(account).ledger;
        let timeout = Duration::from_millis(self.config.timeout_ms);
        let mut next = self.cached_read(account, admitting);
        for _ in 0..MAX_ROUNDS {
            let read = match next.take() {
                Some(read) => read,
                None => self.read_ledger(account, admitting).await?,
            };
            let read_at = read.received;
            let op = op_for(&read);
            let mut ledger = read.ledger.clone();
            let events = ledger
                .apply(op, read.now_ms, &self.policy)
                .map_err(ApplyError::Refused)?;
            let mut followups = self.followups(account, &events, kick);
            if ledger == read.ledger {
                if read.cached {
                    // Nothing to do by the cache's account: Redis's may differ; read it.
                    continue;
                }
                self.run_followups(followups).await;
                return Ok((events, read.now_ms));
            }
            let keep = match ledger.retained_until(&self.policy) {
                _ if ledger.is_empty() => "-".to_string(),
                None => "0".to_string(),
                Some(t) if t <= read.now_ms => "-".to_string(),
                Some(t) => t.to_string(),
            };
            let data = if keep == "-" {
                String::new()
            } else {
                serde_json::to_string(&ledger).map_err(|_| ApplyError::Unavailable)?
            };
            // A write from the cache on one Redis checks the app's limit the admission was computed with,
            // and indexes the instance (the read that would have done both was skipped).
            let check_limit = read.cached && admitting.is_some() && !self.cluster;
            let owi_expected = match (check_limit, read.app_limit) {
                (false, _) => "*".to_string(),
                (true, Some(n)) => n.to_string(),
                (true, None) => String::new(),
            };
            if let (true, Some(id)) = (check_limit, admitting) {
                followups.sadd.push(keys::instance_ref(account, id));
            }
            let mut invocation = self.ledger_scripts.write.prepare_invoke();
            invocation
                .key(&key)
                .arg(&read.version)
                .arg(read.now_ms + self.config.timeout_ms)
                .arg(&keep)
                .arg(&data)
                .arg(&owi_expected);
            let in_script = !self.cluster;
            if in_script {
                invocation
                    .key(keys::node_index(&self.node))
                    .key(keys::DETACHED)
                    .key(keys::app_settings(account.sdk_app_id));
                invocation.arg(followups.sadd.len()).arg(&followups.sadd);
                invocation.arg(followups.srem.len()).arg(&followups.srem);
                invocation.arg(followups.zadd.len());
                for (until, r) in &followups.zadd {
                    invocation.arg(until).arg(r);
                }
                invocation.arg(followups.zrem.len()).arg(&followups.zrem);
                invocation.arg(followups.publish.len());
                for (channel, message) in &followups.publish {
                    invocation.arg(channel).arg(message);
                }
            }
            let mut c = self.conn.clone();
            // The node waits at most `timeout` from the read's answer, and Redis's time at the read was
            // taken before that answer: a write running after the node gave up is past the deadline.
            let left = timeout.saturating_sub(read_at.elapsed());
            let written = self
                .guard_for("write", left, invocation.invoke_async::<Vec<String>>(&mut c))
                .await;
            match written.as_ref().map(|w| w.first().map(String::as_str)) {
                Ok(Some("1")) => {
                    let version = if keep == "-" {
                        "0".to_string()
                    } else {
                        (read.version.parse::<u64>().unwrap_or(0) + 1).to_string()
                    };
                    let ledger = if keep == "-" { Ledger::default() } else { ledger };
                    self.cache_ledger(account, Some((version, ledger)));
                    if !in_script {
                        self.run_followups(followups).await;
                    }
                    return Ok((events, read.now_ms));
                }
                Ok(Some("0")) => {
                    // The ledger changed: start again from the one the write found.
                    let mut now = written.unwrap_or_default().into_iter().skip(1);
                    let mut field = || now.next().unwrap_or_default();
                    let (version, data) = (field(), field());
                    let (secs, micros) = (field().parse().unwrap_or(0), field().parse().unwrap_or(0));
                    next = Some(self.read_from(account, admitting, version, &data, secs, micros, field())?);
                    continue;
                }
                Ok(_) => {
                    self.cache_ledger(account, None);
                    self.health.failed("write", "arrived after its deadline");
                    return Err(ApplyError::Unavailable);
                }
                Err(_) => {
                    self.cache_ledger(account, None);
                    return Err(ApplyError::Unavailable);
                }
            }
        }
        tracing::error!(user = %account.user_id, "registry: ledger write kept conflicting");
        Err(ApplyError::Unavailable)
    }
}
