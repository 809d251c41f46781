//! The recent kicks this node performed, for the admin API (`tim_wasm_admin/query_recent_kicks`): when,
//! which instance, by which, why. Bounded: the oldest records are forgotten first.

use std::collections::VecDeque;
use std::sync::Mutex;

use tim_protocol::{KickType, Platform};

use crate::registry::AccountKey;

/// One kick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KickRecord {
    /// The kicked account.
    pub account: AccountKey,
    /// When, Unix milliseconds.
    pub time_ms: u64,
    /// The kicked instance.
    pub instance_id: String,
    /// Its platform.
    pub platform: Platform,
    /// Why (the `kicked` frame's type).
    pub kick_type: KickType,
    /// The instance whose login took the slot (`multipleAccount`), if any.
    pub by_instance_id: Option<String>,
    /// That instance's platform.
    pub by_platform: Option<Platform>,
}

/// The bounded log.
#[derive(Debug)]
pub struct KickLog {
    capacity: usize,
    records: Mutex<VecDeque<KickRecord>>,
}

impl KickLog {
    /// A log of at most `capacity` records.
    pub fn new(capacity: usize) -> KickLog {
        KickLog {
            capacity: capacity.max(1),
            records: Mutex::new(VecDeque::new()),
        }
    }

    /// Appends a record, forgetting the oldest beyond the capacity.
    pub fn record(&self, record: KickRecord) {
        let mut records = self.lock();
        if records.len() >= self.capacity {
            records.pop_front();
        }
        records.push_back(record);
    }

    /// The account's kicks still remembered, oldest first.
    pub fn of(&self, account: &AccountKey) -> Vec<KickRecord> {
        self.lock().iter().filter(|r| &r.account == account).cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<KickRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(user: &str, id: &str) -> KickRecord {
        KickRecord {
            account: AccountKey {
                sdk_app_id: 1,
                user_id: user.into(),
            },
            time_ms: 1,
            instance_id: id.into(),
            platform: Platform::Web,
            kick_type: KickType::MultipleAccount,
            by_instance_id: Some("new".into()),
            by_platform: Some(Platform::Wx),
        }
    }

    #[test]
    fn keeps_the_newest_and_filters_by_account() {
        let log = KickLog::new(2);
        log.record(record("alice", "a1"));
        log.record(record("bob", "b1"));
        log.record(record("alice", "a2"));
        let alice = log.of(&record("alice", "").account);
        let ids: Vec<&str> = alice.iter().map(|r| r.instance_id.as_str()).collect();
        assert_eq!(ids, ["a2"], "a1 was the oldest and is forgotten");
    }
}
