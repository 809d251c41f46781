//! An account's ledger in Redis: one key per account (a hash: `v` version, `d` the ledger as JSON)
//! under the account's hash tag. An operation reads it together with Redis's own time, runs the rule in
//! Rust ([`Ledger::apply`], the same code as the memory engine), and writes the result back only if
//! nobody wrote the key since the read (else it reads again) and only while the caller still waits for
//! the answer: the write carries a deadline on Redis's clock (the read's time plus the call timeout),
//! so a write that reaches Redis after this node gave up does nothing. A timed-out operation therefore
//! never takes effect later; when the answer to a write that did land is lost, the node's reconciliation
//! finds the instance in Redis without a connection here and removes it.

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
        let ledger = if data.is_empty() {
            Ledger::default()
        } else {
            serde_json::from_str(&data).map_err(|e| {
                tracing::error!(error = %e, user = %account.user_id, "registry: unreadable ledger in Redis");
                Unavailable
            })?
        };
        Ok(Read {
            version,
            ledger,
            now_ms: secs * 1000 + micros / 1000,
            app_limit: owi.parse().ok(),
        })
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
        for _ in 0..MAX_ROUNDS {
            let read = self.read_ledger(account, admitting).await?;
            let read_at = Instant::now();
            let op = op_for(&read);
            let mut ledger = read.ledger.clone();
            let events = ledger
                .apply(op, read.now_ms, &self.policy)
                .map_err(ApplyError::Refused)?;
            let followups = self.followups(account, &events, kick);
            if ledger == read.ledger {
                self.run_followups(followups).await;
                return Ok((events, read.now_ms));
            }
            let keep = match ledger.retained_until(&self.policy) {
                _ if ledger.is_empty() => "-".to_string(),
                None => "0".to_string(),
                Some(t) if t <= read.now_ms => "-".to_string(),
                Some(t) => t.to_string(),
            };
            let data = serde_json::to_string(&ledger).map_err(|_| ApplyError::Unavailable)?;
            let mut invocation = self.ledger_scripts.write.prepare_invoke();
            invocation
                .key(&key)
                .arg(&read.version)
                .arg(read.now_ms + self.config.timeout_ms)
                .arg(keep)
                .arg(data);
            let in_script = !self.cluster;
            if in_script {
                invocation.key(keys::node_index(&self.node)).key(keys::DETACHED);
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
            match self
                .guard_for("write", left, invocation.invoke_async::<i64>(&mut c))
                .await?
            {
                1 => {
                    if !in_script {
                        self.run_followups(followups).await;
                    }
                    return Ok((events, read.now_ms));
                }
                0 => continue,
                _ => {
                    self.health.failed("write", "arrived after its deadline");
                    return Err(ApplyError::Unavailable);
                }
            }
        }
        tracing::error!(user = %account.user_id, "registry: ledger write kept conflicting");
        Err(ApplyError::Unavailable)
    }
}
