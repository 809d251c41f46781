//! The in-memory registry (the default): one mutex over all accounts.
//!
//! Every operation takes the mutex once and does O(instances of one account) work under it, so the
//! atomicity contract of [`Registry`] holds trivially. State is lost on restart; clients then resume
//! with ids this process never saw, which `admit` treats as fresh logins while a slot is free and refuses
//! (80007) otherwise, so that a late resume never evicts a newer login (see the crate README).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use tim_protocol::{KickType, Platform};

use super::{
    AccountKey, Admission, AdmitError, AdmitRequest, ConnId, Evicted, Expired, InstanceInfo, Registry, RegistryFuture,
};

#[derive(Debug, Clone)]
struct Instance {
    id: String,
    platform: Platform,
    logged_in_at_ms: u64,
    conn: Option<ConnId>,
    detached_until_ms: u64,
    /// The client address of its last connection.
    ip: IpAddr,
}

/// A bounded memory of kicked instance ids (oldest forgotten first).
#[derive(Debug, Default)]
struct RecentKicked {
    order: VecDeque<(AccountKey, String)>,
    set: HashSet<(AccountKey, String)>,
    capacity: usize,
}

impl RecentKicked {
    fn insert(&mut self, account: &AccountKey, id: &str) {
        let entry = (account.clone(), id.to_string());
        if self.set.insert(entry.clone()) {
            self.order.push_back(entry);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    fn contains(&self, account: &AccountKey, id: &str) -> bool {
        self.set.contains(&(account.clone(), id.to_string()))
    }
}

#[derive(Debug, Default)]
struct State {
    /// Live instances per account, in login order (earliest first).
    accounts: HashMap<AccountKey, Vec<Instance>>,
    /// Last REST kick per account, Unix seconds.
    revoked: HashMap<AccountKey, u64>,
    kicked: RecentKicked,
    total: usize,
}

/// The in-memory [`Registry`].
#[derive(Debug)]
pub struct MemoryRegistry {
    state: Mutex<State>,
}

impl MemoryRegistry {
    /// A registry that remembers up to `recent_kicked_capacity` kicked instance ids.
    pub fn new(recent_kicked_capacity: usize) -> MemoryRegistry {
        let kicked = RecentKicked {
            capacity: recent_kicked_capacity,
            ..RecentKicked::default()
        };
        MemoryRegistry {
            state: Mutex::new(State {
                kicked,
                ..State::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that matters more
        // than stopping service would, so keep serving.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn admit_now(&self, req: AdmitRequest) -> Result<Admission, AdmitError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        if state.revoked.get(&req.account).is_some_and(|&t| req.sig_time <= t) {
            return Err(AdmitError::Revoked);
        }
        if req.presented && state.kicked.contains(&req.account, &req.instance_id) {
            return Err(AdmitError::InstanceGone);
        }
        let list = state.accounts.entry(req.account.clone()).or_default();
        if let Some(inst) = list.iter_mut().find(|i| i.id == req.instance_id) {
            // Resume: keep the slot and its login time; evict no one.
            let replaced_conn = inst.conn.filter(|&c| c != req.conn);
            inst.conn = Some(req.conn);
            inst.platform = req.platform;
            inst.detached_until_ms = 0;
            inst.ip = req.ip;
            return Ok(Admission {
                resumed: true,
                replaced_conn,
                evicted: Vec::new(),
            });
        }
        let limit = req.limit.max(1);
        if req.presented && list.len() >= limit {
            // An unknown id (grace over, state lost) must not evict the logins that took its place.
            if list.is_empty() {
                state.accounts.remove(&req.account);
            }
            return Err(AdmitError::InstanceGone);
        }
        list.push(Instance {
            id: req.instance_id,
            platform: req.platform,
            logged_in_at_ms: req.now_ms,
            conn: Some(req.conn),
            detached_until_ms: 0,
            ip: req.ip,
        });
        let excess = list.len().saturating_sub(limit);
        let evicted: Vec<Evicted> = list
            .drain(..excess)
            .map(|i| Evicted {
                instance_id: i.id,
                conn: i.conn,
                platform: i.platform,
                ip: Some(i.ip),
            })
            .collect();
        state.total = state.total + 1 - evicted.len();
        for e in &evicted {
            state.kicked.insert(&req.account, &e.instance_id);
        }
        Ok(Admission {
            resumed: false,
            replaced_conn: None,
            evicted,
        })
    }

    /// Removes the instance with this id (held by `conn`, when given); true when one was removed.
    fn remove_where(
        &self,
        account: &AccountKey,
        instance_id: &str,
        conn: Option<ConnId>,
        kick: Option<KickType>,
    ) -> bool {
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(list) = state.accounts.get_mut(account) else {
            return false;
        };
        let Some(pos) = list
            .iter()
            .position(|i| i.id == instance_id && (conn.is_none() || i.conn == conn))
        else {
            return false;
        };
        list.remove(pos);
        if list.is_empty() {
            state.accounts.remove(account);
        }
        state.total -= 1;
        if kick.is_some() {
            state.kicked.insert(account, instance_id);
        }
        true
    }
}

impl Registry for MemoryRegistry {
    fn admit(&self, req: AdmitRequest) -> RegistryFuture<'_, Result<Admission, AdmitError>> {
        let result = self.admit_now(req);
        Box::pin(std::future::ready(result))
    }

    fn release(&self, account: &AccountKey, instance_id: &str, conn: ConnId) -> RegistryFuture<'_, bool> {
        let removed = self.remove_where(account, instance_id, Some(conn), None);
        Box::pin(std::future::ready(removed))
    }

    fn detach(&self, account: &AccountKey, instance_id: &str, conn: ConnId, until_ms: u64) -> RegistryFuture<'_, bool> {
        let mut state = self.lock();
        let inst = state
            .accounts
            .get_mut(account)
            .and_then(|list| list.iter_mut().find(|i| i.id == instance_id && i.conn == Some(conn)));
        let detached = match inst {
            Some(inst) => {
                inst.conn = None;
                inst.detached_until_ms = until_ms;
                true
            }
            None => false,
        };
        Box::pin(std::future::ready(detached))
    }

    fn remove_instance(
        &self,
        account: &AccountKey,
        instance_id: &str,
        conn: ConnId,
        kick: Option<KickType>,
    ) -> RegistryFuture<'_, bool> {
        let removed = self.remove_where(account, instance_id, Some(conn), kick);
        Box::pin(std::future::ready(removed))
    }

    fn kick_account(&self, account: &AccountKey, revoke_time_secs: u64) -> RegistryFuture<'_, Vec<Evicted>> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let t = state.revoked.entry(account.clone()).or_insert(0);
        *t = (*t).max(revoke_time_secs);
        let removed: Vec<Evicted> = state
            .accounts
            .remove(account)
            .unwrap_or_default()
            .into_iter()
            .map(|i| Evicted {
                instance_id: i.id,
                conn: i.conn,
                platform: i.platform,
                ip: Some(i.ip),
            })
            .collect();
        state.total -= removed.len();
        for e in &removed {
            state.kicked.insert(account, &e.instance_id);
        }
        Box::pin(std::future::ready(removed))
    }

    fn expire_detached(&self, now_ms: u64) -> RegistryFuture<'_, Vec<Expired>> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let mut freed = Vec::new();
        state.accounts.retain(|account, list| {
            list.retain(|i| {
                let keep = i.conn.is_some() || i.detached_until_ms > now_ms;
                if !keep {
                    freed.push(Expired {
                        account: account.clone(),
                        instance_id: i.id.clone(),
                        platform: i.platform,
                        ip: Some(i.ip),
                    });
                }
                keep
            });
            !list.is_empty()
        });
        state.total -= freed.len();
        Box::pin(std::future::ready(freed))
    }

    fn revoked_at(&self, account: &AccountKey) -> RegistryFuture<'_, Option<u64>> {
        let t = self.lock().revoked.get(account).copied();
        Box::pin(std::future::ready(t))
    }

    fn instances(&self, account: &AccountKey) -> RegistryFuture<'_, Vec<InstanceInfo>> {
        let list = self
            .lock()
            .accounts
            .get(account)
            .map(|list| {
                list.iter()
                    .map(|i| InstanceInfo {
                        instance_id: i.id.clone(),
                        platform: i.platform,
                        logged_in_at_ms: i.logged_in_at_ms,
                        conn: i.conn,
                        node: None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Box::pin(std::future::ready(list))
    }

    fn instance_count(&self) -> RegistryFuture<'_, usize> {
        let total = self.lock().total;
        Box::pin(std::future::ready(total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let r = MemoryRegistry::new(10);
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
        assert!(futures_ready(r.release(&account("alice"), "b", 4)));
        let z = admit(&r, req("z", 7, 2, true)).unwrap();
        assert!(!z.resumed && z.evicted.is_empty());
        assert_eq!(r.lock().total, 2);
    }

    #[test]
    fn detach_keeps_slot_until_grace_then_frees() {
        let r = MemoryRegistry::new(10);
        admit(&r, req("a", 1, 1, false)).unwrap();
        assert!(!futures_ready(r.detach(&account("alice"), "a", 99, 50)));
        assert!(futures_ready(r.detach(&account("alice"), "a", 1, 50)));
        assert!(futures_ready(r.expire_detached(49)).is_empty());
        assert!(admit(&r, req("a", 2, 1, true)).unwrap().resumed);
        assert!(futures_ready(r.detach(&account("alice"), "a", 2, 50)));
        let freed = futures_ready(r.expire_detached(51));
        assert_eq!(freed.len(), 1);
        // The address of the connection that last held it (the resume's, conn 2).
        assert_eq!(
            (freed[0].instance_id.as_str(), freed[0].platform, freed[0].ip),
            ("a", Platform::Web, Some("10.0.0.2".parse().unwrap()))
        );
        assert!(futures_ready(r.expire_detached(52)).is_empty(), "freed once");
        assert_eq!(futures_ready(r.instance_count()), 0);
    }

    #[test]
    fn rest_kick_revokes_old_sigs() {
        let r = MemoryRegistry::new(10);
        admit(&r, req("a", 1, 3, false)).unwrap();
        let removed = futures_ready(r.kick_account(&account("alice"), 100));
        assert_eq!(removed.len(), 1);
        assert_eq!(futures_ready(r.revoked_at(&account("alice"))), Some(100));
        assert_eq!(futures_ready(r.revoked_at(&account("bob"))), None);
        assert_eq!(admit(&r, req("b", 2, 3, false)), Err(AdmitError::Revoked));
        let mut later = req("b", 2, 3, false);
        later.sig_time = 101;
        assert!(admit(&r, later).is_ok());
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
