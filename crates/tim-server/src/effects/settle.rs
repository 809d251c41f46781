//! Registry operations that must happen although no client waits for them: the release, detach or
//! removal of an instance whose connection ended (logout, drop, idle timeout, UserSig expiry). Each is
//! tried at once; when the registry cannot answer it is retried with backoff until the registry confirms
//! it, and only then are its effects applied, so the app's backend gets exactly one callback for the
//! transition, never one for work not done. A timed-out write never takes effect late (the registry's
//! write deadline), so a retry never doubles one.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tim_protocol::KickType;

use crate::app_state::AppState;
use crate::effects::{Gone, Left};
use crate::registry::{AccountKey, ConnId, Unavailable};

/// Operations waiting for the registry at most; beyond, new ones are dropped (counted, logged): the
/// node's reconciliation and the dead-node purge still clean up after them, without a callback.
pub const MAX_PENDING: usize = 100_000;

/// First retry delay; doubles up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(10);

/// What must happen to an instance whose connection ended.
#[derive(Debug, Clone)]
pub enum Settle {
    /// The client logged out.
    Release,
    /// The socket went away: keep the slot for `grace_ms`.
    Detach {
        /// The grace.
        grace_ms: u64,
    },
    /// The connection timed out (idle), or its UserSig expired (`kick`).
    Remove {
        /// `Some(UserSigExpired)` for an expiry.
        kick: Option<KickType>,
    },
}

/// One pending operation.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The account.
    pub account: AccountKey,
    /// The instance, as its connection knew it.
    pub gone: Gone,
    /// The connection that held it (the registry acts only if it still does).
    pub conn: ConnId,
    /// What to do.
    pub what: Settle,
}

impl AppState {
    /// Runs `op` once now; if the registry cannot answer, keeps retrying it in the background. Returns
    /// `Some(changed)` when the first attempt was confirmed (`changed`: this call removed or detached
    /// the instance; else someone else had), `None` when it waits for the registry.
    pub async fn settle(self: &Arc<Self>, op: Pending) -> Option<bool> {
        match self.try_settle(&op).await {
            Ok(changed) => Some(changed),
            Err(Unavailable) => {
                if self.pending.fetch_add(1, Ordering::SeqCst) >= MAX_PENDING {
                    self.pending.fetch_sub(1, Ordering::SeqCst);
                    self.metrics.settled("dropped");
                    tracing::error!(user = %op.account.user_id, instance = %op.gone.instance_id, "registry: too many operations waiting for Redis; this one is dropped");
                    return None;
                }
                let state = Arc::clone(self);
                tokio::spawn(async move {
                    let mut delay = FIRST_DELAY;
                    loop {
                        state.metrics.settled("retried");
                        tokio::time::sleep(delay).await;
                        if state.try_settle(&op).await.is_ok() {
                            state.metrics.settled("confirmed");
                            break;
                        }
                        delay = (delay * 2).min(MAX_DELAY);
                    }
                    state.pending.fetch_sub(1, Ordering::SeqCst);
                });
                None
            }
        }
    }

    /// One attempt; on success applies the effects (when this call changed the registry).
    async fn try_settle(&self, op: &Pending) -> Result<bool, Unavailable> {
        let now = self.clock.unix_ms();
        let (account, id, conn) = (&op.account, op.gone.instance_id.as_str(), op.conn);
        let registry = &self.registry;
        let left = match &op.what {
            Settle::Release => registry.release(account, id, conn, now).await?.then_some(Left::Logout),
            Settle::Detach { grace_ms } => {
                return registry.detach(account, id, conn, *grace_ms, now).await;
            }
            Settle::Remove { kick } => {
                let removed = registry.remove_instance(account, id, conn, *kick, now).await?;
                let why = if kick.is_some() { Left::SigExpired } else { Left::Idle };
                removed.then_some(why)
            }
        };
        // Not removed: someone else removed it first (a kick), and reported it.
        let changed = left.is_some();
        if let Some(why) = left {
            self.instance_left(account, &op.gone, why);
        }
        Ok(changed)
    }
}
