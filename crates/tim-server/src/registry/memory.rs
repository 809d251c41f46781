//! The in-memory registry (the default): one mutex over all accounts.
//!
//! Every operation takes the mutex once and does O(instances of one account) work under it, so the
//! atomicity contract of [`Registry`] holds trivially. State is lost on restart; clients then resume
//! with ids this process never saw, which `admit` treats as fresh logins while a slot is free and refuses
//! (80007) otherwise, so that a late resume never evicts a newer login (see the crate README).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use tim_protocol::{KickType, ServerFrame};

use crate::registry::kicks::{KickLog, KickRecord};

use super::ledger::{self, Event, Holder, HolderMatch, Leave, Ledger, Op, Policy, Refusal};
use super::{
    AccountKey, Admission, AdmitError, AdmitRequest, Answer, ConnId, Evicted, Expired, InstanceInfo, Kicked, Registry,
    RegistryFuture,
};

/// The node name in this engine's holders (one process: every holder is this one).
// (Empty: a `String` that allocates nothing, in every instance's holder.)
const NODE: &str = "";

#[derive(Debug, Default)]
struct State {
    /// The ledger of every account that has one (an empty ledger is dropped, as Redis drops its key).
    ledgers: HashMap<AccountKey, Ledger>,
    /// Accounts with a detached instance (what the sweep looks at).
    detached: HashSet<AccountKey>,
    /// Accounts whose ledger holds no instance but retained data (recent kicks, a revocation).
    retained: HashSet<AccountKey>,
    /// Live instances of all accounts.
    total: usize,
    /// `OnlineWebInstances` set through the admin API, per app.
    app_limits: HashMap<u64, u32>,
    /// The last message sequence number handed out.
    message_seq: u64,
}

/// The in-memory [`Registry`].
#[derive(Debug)]
pub struct MemoryRegistry {
    state: Mutex<State>,
    policy: Policy,
    kick_log: KickLog,
}

fn evicted(instance: &ledger::Instance) -> Evicted {
    Evicted {
        instance_id: instance.id.clone(),
        conn: instance.holder.as_ref().map(|h| h.conn),
        platform: instance.platform,
        ip: instance.ip,
    }
}

impl MemoryRegistry {
    /// A registry whose ledgers remember what `policy` says, and whose kick log keeps the newest
    /// `kick_log_capacity` kicks.
    pub fn new(policy: Policy, kick_log_capacity: usize) -> MemoryRegistry {
        MemoryRegistry {
            state: Mutex::new(State::default()),
            policy,
            kick_log: KickLog::new(kick_log_capacity),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that matters more
        // than stopping service would, so keep serving.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `op` on the account's ledger at `now_ms`, keeping the engine's indexes in step.
    fn apply(&self, account: &AccountKey, op: Op, now_ms: u64) -> Result<Vec<Event>, Refusal> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let ledger = state.ledgers.entry(account.clone()).or_default();
        let before = ledger.instances.len();
        let result = ledger.apply(op, now_ms, &self.policy);
        let after = ledger.instances.len();
        let has_detached = ledger.instances.iter().any(|i| !i.attached());
        let drop_now = ledger.retained_until(&self.policy).is_some_and(|t| t <= now_ms) || ledger.is_empty();
        let retained = !drop_now && ledger.instances.is_empty();
        if drop_now {
            state.ledgers.remove(account);
        }
        state.total = state.total + after - before;
        if has_detached {
            state.detached.insert(account.clone());
        } else {
            state.detached.remove(account);
        }
        if retained {
            state.retained.insert(account.clone());
        } else {
            state.retained.remove(account);
        }
        result
    }

    fn admit_now(&self, req: AdmitRequest) -> Result<Admission, AdmitError> {
        let op = Op::Admit(ledger::Admit {
            id: req.instance_id,
            presented: req.presented,
            holder: Holder {
                node: NODE.into(),
                conn: req.conn,
            },
            platform: req.platform,
            limit: req.limit,
            sig_time: req.sig_time,
            ip: Some(req.ip),
        });
        let events = self.apply(&req.account, op, req.now_ms).map_err(|r| match r {
            Refusal::InstanceGone => AdmitError::InstanceGone,
            Refusal::Revoked => AdmitError::Revoked,
        })?;
        let mut admission = Admission {
            resumed: false,
            replaced_conn: None,
            evicted: Vec::new(),
        };
        for event in &events {
            match event {
                Event::Resumed { replaced, .. } => {
                    admission.resumed = true;
                    admission.replaced_conn = replaced.as_ref().map(|h| h.conn);
                }
                Event::Evicted { instance, .. } => admission.evicted.push(evicted(instance)),
                _ => {}
            }
        }
        Ok(admission)
    }

    fn holder(conn: ConnId) -> HolderMatch {
        HolderMatch::Exact(Holder {
            node: NODE.into(),
            conn,
        })
    }

    /// Frees detached instances due at `now_ms` and forgets ledgers past their retention.
    fn expire_now(&self, now_ms: u64) -> Vec<Expired> {
        let candidates: Vec<AccountKey> = {
            let state = self.lock();
            let retained_due = state.retained.iter().filter(|a| {
                state
                    .ledgers
                    .get(*a)
                    .and_then(|l| l.retained_until(&self.policy))
                    .is_none_or(|t| t <= now_ms)
            });
            state.detached.iter().chain(retained_due).cloned().collect()
        };
        let mut freed = Vec::new();
        for account in candidates {
            let Ok(events) = self.apply(&account, Op::Expire, now_ms) else {
                continue;
            };
            for event in events {
                if let Event::Expired(instance) = event {
                    freed.push(Expired {
                        account: account.clone(),
                        instance_id: instance.id,
                        platform: instance.platform,
                        ip: instance.ip,
                    });
                }
            }
        }
        freed
    }

    /// Accounts with a ledger (live or retained), for the tests of retention.
    #[cfg(test)]
    fn ledger_count(&self) -> usize {
        self.lock().ledgers.len()
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> RegistryFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl Registry for MemoryRegistry {
    fn admit(&self, req: AdmitRequest) -> RegistryFuture<'_, Result<Admission, AdmitError>> {
        ready(self.admit_now(req))
    }

    fn release(&self, account: &AccountKey, instance_id: &str, conn: ConnId, now_ms: u64) -> Answer<'_, bool> {
        let op = Op::Remove {
            id: instance_id.into(),
            holder: Self::holder(conn),
            why: Leave::Logout,
        };
        ready(Ok(self.apply(account, op, now_ms).is_ok_and(|e| !e.is_empty())))
    }

    fn detach(
        &self,
        account: &AccountKey,
        instance_id: &str,
        conn: ConnId,
        grace_ms: u64,
        now_ms: u64,
    ) -> Answer<'_, bool> {
        let op = Op::Detach {
            id: instance_id.into(),
            holder: Self::holder(conn),
            grace_ms,
        };
        ready(Ok(self.apply(account, op, now_ms).is_ok_and(|e| !e.is_empty())))
    }

    fn remove_instance(
        &self,
        account: &AccountKey,
        instance_id: &str,
        conn: ConnId,
        kick: Option<KickType>,
        now_ms: u64,
    ) -> Answer<'_, bool> {
        let op = Op::Remove {
            id: instance_id.into(),
            holder: Self::holder(conn),
            why: kick.map_or(Leave::Idle, Leave::Kick),
        };
        ready(Ok(self.apply(account, op, now_ms).is_ok_and(|e| !e.is_empty())))
    }

    fn kick_account(&self, account: &AccountKey, revoke_time_secs: u64, now_ms: u64) -> Answer<'_, Kicked> {
        let op = Op::KickAll {
            revoke_secs: revoke_time_secs,
        };
        let removed = self
            .apply(account, op, now_ms)
            .unwrap_or_default()
            .iter()
            .map(|e| evicted(e.instance()))
            .collect();
        ready(Ok(Kicked {
            removed,
            replicated: true,
        }))
    }

    fn expire_detached(&self, now_ms: u64) -> Answer<'_, Vec<Expired>> {
        ready(Ok(self.expire_now(now_ms)))
    }

    fn revoked_at(&self, account: &AccountKey) -> Answer<'_, Option<u64>> {
        ready(Ok(self.lock().ledgers.get(account).and_then(|l| l.revoked_at)))
    }

    fn instances(&self, account: &AccountKey) -> Answer<'_, Vec<InstanceInfo>> {
        let list = self
            .lock()
            .ledgers
            .get(account)
            .map(|l| {
                l.instances
                    .iter()
                    .map(|i| InstanceInfo {
                        instance_id: i.id.clone(),
                        platform: i.platform,
                        logged_in_at_ms: i.login_ms,
                        conn: i.holder.as_ref().map(|h| h.conn),
                        node: None,
                        ip: i.ip,
                    })
                    .collect()
            })
            .unwrap_or_default();
        ready(Ok(list))
    }

    fn take_lost(&self) -> Vec<Expired> {
        Vec::new()
    }

    fn instance_count(&self) -> RegistryFuture<'_, usize> {
        ready(self.lock().total)
    }

    fn app_limit(&self, sdk_app_id: u64) -> Answer<'_, Option<u32>> {
        ready(Ok(self.lock().app_limits.get(&sdk_app_id).copied()))
    }

    fn set_app_limit(&self, sdk_app_id: u64, limit: u32) -> Answer<'_, ()> {
        self.lock().app_limits.insert(sdk_app_id, limit);
        ready(Ok(()))
    }

    fn message_seq(&self, _sdk_app_id: u64, _a: &str, _b: &str) -> Answer<'_, u64> {
        // One process-wide counter: unique and increasing in every conversation.
        let mut state = self.lock();
        state.message_seq += 1;
        ready(Ok(state.message_seq))
    }

    fn record_kick(&self, record: KickRecord) -> Answer<'_, ()> {
        self.kick_log.record(record);
        ready(Ok(()))
    }

    fn recent_kicks(&self, account: &AccountKey) -> Answer<'_, Vec<KickRecord>> {
        ready(Ok(self.kick_log.of(account)))
    }

    fn relay(&self, _node: &str, _conn: ConnId, _instance_id: &str, _frame: &ServerFrame) -> Answer<'_, ()> {
        // One node: every instance is this node's (`InstanceInfo::node` is always `None`).
        ready(Ok(()))
    }

    fn is_ready(&self) -> bool {
        true
    }

    fn render_metrics(&self) -> String {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tim_protocol::Platform;

    fn account(user: &str) -> AccountKey {
        AccountKey {
            sdk_app_id: 1,
            user_id: user.into(),
        }
    }

    fn req(id: &str, conn: ConnId, limit: usize, presented: bool) -> AdmitRequest {
        AdmitRequest {
            account: account("alice"),
            instance_id: id.into(),
            presented,
            conn,
            platform: Platform::Web,
            limit,
            sig_time: 100,
            now_ms: conn,
            ip: std::net::Ipv4Addr::new(10, 0, 0, conn as u8).into(),
        }
    }

    fn admit(r: &MemoryRegistry, req: AdmitRequest) -> Result<Admission, AdmitError> {
        r.admit_now(req)
    }

    #[test]
    fn evicts_earliest_beyond_limit_and_resume_evicts_nobody() {
        let r = MemoryRegistry::new(Policy::default(), 100);
        assert!(admit(&r, req("a", 1, 2, false)).unwrap().evicted.is_empty());
        assert!(admit(&r, req("b", 2, 2, false)).unwrap().evicted.is_empty());
        let c = admit(&r, req("c", 3, 2, false)).unwrap();
        assert_eq!(
            c.evicted,
            vec![Evicted {
                instance_id: "a".into(),
                conn: Some(1),
                platform: Platform::Web,
                ip: Some("10.0.0.1".parse().unwrap()),
            }]
        );
        // b reconnects on a new connection: resumed, nobody evicted, old connection replaced.
        let b = admit(&r, req("b", 4, 2, true)).unwrap();
        assert!(b.resumed && b.evicted.is_empty());
        assert_eq!(b.replaced_conn, Some(2));
        // a was kicked: its resume is refused.
        assert_eq!(admit(&r, req("a", 5, 2, true)), Err(AdmitError::InstanceGone));
        // an id never seen (server restart, grace over) evicts nobody: refused while both slots are held.
        assert_eq!(admit(&r, req("z", 6, 2, true)), Err(AdmitError::InstanceGone));
        assert_eq!(r.lock().total, 2);
        // once a slot is free it is admitted as a fresh login.
        assert!(ok(r.release(&account("alice"), "b", 4, 7)));
        let z = admit(&r, req("z", 7, 2, true)).unwrap();
        assert!(!z.resumed && z.evicted.is_empty());
        assert_eq!(r.lock().total, 2);
    }

    #[test]
    fn detach_keeps_slot_until_grace_then_frees() {
        let r = MemoryRegistry::new(Policy::default(), 100);
        admit(&r, req("a", 1, 1, false)).unwrap();
        assert!(!ok(r.detach(&account("alice"), "a", 99, 50, 0)));
        assert!(ok(r.detach(&account("alice"), "a", 1, 50, 0)));
        assert!(ok(r.expire_detached(49)).is_empty());
        assert!(admit(&r, req("a", 2, 1, true)).unwrap().resumed);
        assert!(ok(r.detach(&account("alice"), "a", 2, 50, 0)));
        let freed = ok(r.expire_detached(51));
        assert_eq!(freed.len(), 1);
        // The address of the connection that last held it (the resume's, conn 2).
        assert_eq!(
            (freed[0].instance_id.as_str(), freed[0].platform, freed[0].ip),
            ("a", Platform::Web, Some("10.0.0.2".parse().unwrap()))
        );
        assert!(ok(r.expire_detached(52)).is_empty(), "freed once");
        assert_eq!(futures_ready(r.instance_count()), 0);
    }

    #[test]
    fn rest_kick_revokes_old_sigs() {
        let r = MemoryRegistry::new(Policy::default(), 100);
        admit(&r, req("a", 1, 3, false)).unwrap();
        let removed = ok(r.kick_account(&account("alice"), 100, 1)).removed;
        assert_eq!(removed.len(), 1);
        assert_eq!(ok(r.revoked_at(&account("alice"))), Some(100));
        assert_eq!(ok(r.revoked_at(&account("bob"))), None);
        assert_eq!(admit(&r, req("b", 2, 3, false)), Err(AdmitError::Revoked));
        let mut later = req("b", 2, 3, false);
        later.sig_time = 101;
        assert!(admit(&r, later).is_ok());
    }

    #[test]
    fn an_account_that_left_leaves_nothing_after_its_retention() {
        let policy = Policy {
            kicked_capacity: 4,
            kicked_ttl_ms: 1_000,
            revocation_retention_ms: 5_000,
        };
        let r = MemoryRegistry::new(policy, 100);
        // A logout leaves nothing at once.
        admit(&r, req("a", 1, 1, false)).unwrap();
        assert!(ok(r.release(&account("alice"), "a", 1, 2)));
        assert_eq!(r.ledger_count(), 0);
        // An eviction keeps the kicked id for its TTL, then the sweep drops the ledger.
        admit(&r, req("b", 2, 1, false)).unwrap();
        admit(&r, req("c", 3, 1, false)).unwrap();
        assert!(ok(r.release(&account("alice"), "c", 3, 10)));
        assert_eq!(r.ledger_count(), 1, "b's kick is remembered");
        ok(r.expire_detached(3 + 999));
        assert_eq!(r.ledger_count(), 1);
        ok(r.expire_detached(3 + 1_000));
        assert_eq!(r.ledger_count(), 0);
        // A revocation is kept for its retention.
        ok(r.kick_account(&account("alice"), 100, 20_000));
        ok(r.expire_detached(24_999));
        assert_eq!(ok(r.revoked_at(&account("alice"))), Some(100));
        ok(r.expire_detached(25_000));
        assert_eq!(ok(r.revoked_at(&account("alice"))), None);
        assert_eq!(r.ledger_count(), 0);
        assert_eq!(futures_ready(r.instance_count()), 0);
    }

    fn ok<T>(f: Answer<'_, T>) -> T {
        futures_ready(f).expect("the memory engine always answers")
    }

    fn futures_ready<T>(f: RegistryFuture<'_, T>) -> T {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = f;
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("memory registry futures are ready at once"),
        }
    }
}
