//! The ledger against a simple model, in simulated time: unit scenarios, then generated operation
//! sequences (proptest) checked event by event and state by state.

use std::collections::BTreeMap;

use proptest::prelude::*;
use tim_protocol::{KickType, Platform};

use super::ledger::{Admit, Event, Holder, HolderMatch, Leave, Ledger, Op, Policy, Refusal};

fn holder(conn: u64) -> Holder {
    Holder {
        node: if conn % 2 == 0 { "a" } else { "b" }.into(),
        conn,
    }
}

fn admit(id: &str, conn: u64, limit: usize, presented: bool) -> Op {
    Op::Admit(Admit {
        id: id.into(),
        presented,
        holder: holder(conn),
        platform: Platform::Web,
        limit,
        sig_time: 100,
        ip: None,
    })
}

fn ids(events: &[Event]) -> Vec<(&'static str, String)> {
    events
        .iter()
        .map(|e| {
            let kind = match e {
                Event::Admitted(_) => "admitted",
                Event::Resumed { .. } => "resumed",
                Event::Evicted { .. } => "evicted",
                Event::Removed { .. } => "removed",
                Event::KickedByAdmin(_) => "kicked",
                Event::Detached(_) => "detached",
                Event::Expired(_) => "expired",
            };
            (kind, e.instance().id.clone())
        })
        .collect()
}

#[test]
fn evicts_detached_first_then_the_earliest_live_one() {
    let p = Policy::default();
    let mut l = Ledger::default();
    l.apply(admit("a", 1, 2, false), 10, &p).unwrap();
    l.apply(admit("b", 2, 2, false), 20, &p).unwrap();
    // b's page reloads: its socket goes, the instance keeps its slot.
    let d = l.apply(
        Op::Detach {
            id: "b".into(),
            holder: HolderMatch::Exact(holder(2)),
            grace_ms: 970,
        },
        30,
        &p,
    );
    assert_eq!(ids(&d.unwrap()), [("detached", "b".to_string())]);
    // A third login evicts the socket-less b, not the live a (the earliest login).
    let e = l.apply(admit("c", 3, 2, false), 40, &p).unwrap();
    assert_eq!(ids(&e), [("admitted", "c".into()), ("evicted", "b".into())]);
    // With nobody detached, the earliest live instance goes.
    let e = l.apply(admit("d", 4, 2, false), 50, &p).unwrap();
    assert_eq!(ids(&e), [("admitted", "d".into()), ("evicted", "a".into())]);
    let Event::Evicted { by, .. } = &e[1] else { panic!() };
    assert_eq!((by.id.as_str(), by.login_ms), ("d", 50));
    // Kicked ids cannot resume; an unknown id cannot take a slot while both are held.
    assert_eq!(l.apply(admit("a", 5, 2, true), 60, &p), Err(Refusal::InstanceGone));
    assert_eq!(l.apply(admit("zz", 5, 2, true), 60, &p), Err(Refusal::InstanceGone));
}

#[test]
fn resume_keeps_the_slot_and_names_the_replaced_connection() {
    let p = Policy::default();
    let mut l = Ledger::default();
    l.apply(admit("a", 1, 1, false), 10, &p).unwrap();
    let e = l.apply(admit("a", 3, 1, true), 20, &p).unwrap();
    assert_eq!(
        e,
        vec![Event::Resumed {
            instance: l.instance("a").unwrap().clone(),
            replaced: Some(holder(1)),
        }]
    );
    assert_eq!(l.instance("a").unwrap().login_ms, 10, "the login time stays");
    // The old connection's late logout or drop does nothing.
    let stale = Op::Remove {
        id: "a".into(),
        holder: HolderMatch::Exact(holder(1)),
        why: Leave::Logout,
    };
    assert!(l.apply(stale, 30, &p).unwrap().is_empty());
}

#[test]
fn grace_expiry_kicks_revocation_and_retention() {
    let p = Policy {
        kicked_capacity: 2,
        kicked_ttl_ms: 1000,
        revocation_retention_ms: 5000,
    };
    let mut l = Ledger::default();
    l.apply(admit("a", 1, 3, false), 0, &p).unwrap();
    l.apply(
        Op::Detach {
            id: "a".into(),
            holder: HolderMatch::Node("b".into()),
            grace_ms: 90,
        },
        10,
        &p,
    )
    .unwrap();
    assert!(l.apply(Op::Expire, 99, &p).unwrap().is_empty());
    assert_eq!(ids(&l.apply(Op::Expire, 100, &p).unwrap()), [("expired", "a".into())]);
    assert!(l.is_empty());
    for (i, id) in ["x", "y", "z"].iter().enumerate() {
        l.apply(admit(id, 2, 3, false), 200 + i as u64, &p).unwrap();
    }
    let kicked = l.apply(Op::KickAll { revoke_secs: 100 }, 300, &p).unwrap();
    assert_eq!(kicked.len(), 3);
    assert_eq!(l.kicked.len(), 2, "capacity");
    assert_eq!(l.apply(admit("n", 2, 3, false), 301, &p), Err(Refusal::Revoked));
    assert_eq!(l.retained_until(&p), Some(5300));
    // After the kicked ids' TTL and the revocation's retention, the ledger is empty again.
    let mut later = admit("n", 2, 3, false);
    if let Op::Admit(a) = &mut later {
        a.sig_time = 50;
    }
    assert!(l.apply(later, 5300, &p).is_ok());
    assert!(l.kicked.is_empty() && l.revoked_at.is_none());
}

#[test]
fn the_record_survives_serde() {
    let p = Policy::default();
    let mut l = Ledger::default();
    l.apply(admit("a", 1, 1, false), 1, &p).unwrap();
    l.apply(admit("b", 2, 1, false), 2, &p).unwrap();
    let text = serde_json::to_string(&l).unwrap();
    assert_eq!(serde_json::from_str::<Ledger>(&text).unwrap(), l);
}

/// The model: the rule as a sorted map and a sort key, written without the ledger's code.
#[derive(Debug, Default, Clone)]
struct Model {
    seq: u64,
    /// seq -> (id, conn or None, until)
    live: BTreeMap<u64, (String, Option<u64>, u64)>,
    kicked: Vec<String>,
    revoked: Option<u64>,
}

#[derive(Debug, Clone)]
enum MOp {
    Admit {
        id: u8,
        conn: u64,
        limit: usize,
        presented: bool,
        sig: u64,
    },
    Logout {
        id: u8,
        conn: u64,
    },
    Kick {
        id: u8,
        conn: u64,
    },
    Detach {
        id: u8,
        conn: u64,
        grace: u64,
    },
    Expire,
    KickAll {
        secs: u64,
    },
    Wait(u64),
}

fn name(id: u8) -> String {
    format!("i{id}")
}

impl Model {
    fn find(&self, id: &str) -> Option<u64> {
        self.live.iter().find(|(_, v)| v.0 == id).map(|(s, _)| *s)
    }

    /// (kind, id) per event, as the ledger should report them; `Err` for a refusal.
    fn apply(&mut self, op: &MOp, now: u64, cap: usize) -> Result<Vec<(&'static str, String)>, Refusal> {
        let mut out = Vec::new();
        match *op {
            MOp::Admit {
                id,
                conn,
                limit,
                presented,
                sig,
            } => {
                let id = name(id);
                if self.revoked.is_some_and(|r| sig <= r) {
                    return Err(Refusal::Revoked);
                }
                if presented && self.kicked.contains(&id) {
                    return Err(Refusal::InstanceGone);
                }
                if let Some(s) = self.find(&id) {
                    let v = self.live.get_mut(&s).unwrap();
                    v.1 = Some(conn);
                    v.2 = 0;
                    return Ok(vec![("resumed", id)]);
                }
                let limit = limit.max(1);
                if presented && self.live.len() >= limit {
                    return Err(Refusal::InstanceGone);
                }
                self.seq += 1;
                self.live.insert(self.seq, (id.clone(), Some(conn), 0));
                out.push(("admitted", id));
                while self.live.len() > limit {
                    // The sort key: detached before attached, then admission order.
                    let victim = *self.live.iter().min_by_key(|(s, v)| (v.1.is_some(), **s)).unwrap().0;
                    let (vid, _, _) = self.live.remove(&victim).unwrap();
                    self.kick(&vid, cap);
                    out.push(("evicted", vid));
                }
            }
            MOp::Logout { id, conn } | MOp::Kick { id, conn } => {
                let id = name(id);
                if let Some(s) = self.find(&id).filter(|s| self.live[s].1 == Some(conn)) {
                    self.live.remove(&s);
                    if matches!(op, MOp::Kick { .. }) {
                        self.kick(&id, cap);
                    }
                    out.push(("removed", id));
                }
            }
            MOp::Detach { id, conn, grace } => {
                let id = name(id);
                if let Some(s) = self.find(&id).filter(|s| self.live[s].1 == Some(conn)) {
                    let v = self.live.get_mut(&s).unwrap();
                    v.1 = None;
                    v.2 = now + grace;
                    out.push(("detached", id));
                }
            }
            MOp::Expire => {
                let due: Vec<u64> = self
                    .live
                    .iter()
                    .filter(|(_, v)| v.1.is_none() && v.2 <= now)
                    .map(|(s, _)| *s)
                    .collect();
                for s in due {
                    out.push(("expired", self.live.remove(&s).unwrap().0));
                }
            }
            MOp::KickAll { secs } => {
                self.revoked = Some(self.revoked.unwrap_or(0).max(secs));
                for (_, (id, _, _)) in std::mem::take(&mut self.live) {
                    self.kick(&id, cap);
                    out.push(("kicked", id));
                }
            }
            MOp::Wait(_) => {}
        }
        Ok(out)
    }

    fn kick(&mut self, id: &str, cap: usize) {
        self.kicked.retain(|k| k != id);
        self.kicked.push(id.to_string());
        if self.kicked.len() > cap {
            self.kicked.remove(0);
        }
    }
}

fn to_op(m: &MOp) -> Option<Op> {
    Some(match *m {
        MOp::Admit {
            id,
            conn,
            limit,
            presented,
            sig,
        } => Op::Admit(Admit {
            id: name(id),
            presented,
            holder: holder(conn),
            platform: Platform::Wx,
            limit,
            sig_time: sig,
            ip: None,
        }),
        MOp::Logout { id, conn } => Op::Remove {
            id: name(id),
            holder: HolderMatch::Exact(holder(conn)),
            why: Leave::Logout,
        },
        MOp::Kick { id, conn } => Op::Remove {
            id: name(id),
            holder: HolderMatch::Exact(holder(conn)),
            why: Leave::Kick(KickType::UserSigExpired),
        },
        MOp::Detach { id, conn, grace } => Op::Detach {
            id: name(id),
            holder: HolderMatch::Exact(holder(conn)),
            grace_ms: grace,
        },
        MOp::Expire => Op::Expire,
        MOp::KickAll { secs } => Op::KickAll { revoke_secs: secs },
        MOp::Wait(_) => return None,
    })
}

fn mop() -> impl Strategy<Value = MOp> {
    prop_oneof![
        4 => (0u8..6, 0u64..5, 1usize..4, any::<bool>(), 90u64..130)
            .prop_map(|(id, conn, limit, presented, sig)| MOp::Admit { id, conn, limit, presented, sig }),
        1 => (0u8..6, 0u64..5).prop_map(|(id, conn)| MOp::Logout { id, conn }),
        1 => (0u8..6, 0u64..5).prop_map(|(id, conn)| MOp::Kick { id, conn }),
        2 => (0u8..6, 0u64..5, 1u64..50).prop_map(|(id, conn, grace)| MOp::Detach { id, conn, grace }),
        1 => Just(MOp::Expire),
        1 => (95u64..125).prop_map(|secs| MOp::KickAll { secs }),
        1 => (1u64..40).prop_map(MOp::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Every generated sequence: the same events as the model, in order; the same live instances (id,
    /// attached, admission order); never more than `limit` after an admission; the record round-trips.
    #[test]
    fn the_ledger_is_the_model(ops in proptest::collection::vec(mop(), 1..60)) {
        // Retention far beyond the run: the model has no clock for forgetting.
        let policy = Policy { kicked_capacity: 3, kicked_ttl_ms: u64::MAX / 4, revocation_retention_ms: u64::MAX / 4 };
        let mut ledger = Ledger::default();
        let mut model = Model::default();
        let mut now = 1_000u64;
        for m in &ops {
            if let MOp::Wait(d) = m {
                now += d;
                continue;
            }
            let op = to_op(m).unwrap();
            let before = ledger.clone();
            let got = ledger.apply(op, now, &policy);
            let want = model.apply(m, now, policy.kicked_capacity);
            match (&got, &want) {
                (Ok(events), Ok(expected)) => prop_assert_eq!(&ids(events), expected, "{:?}", m),
                (Err(a), Err(b)) => {
                    prop_assert_eq!(a, b);
                    prop_assert_eq!(&ledger, &before, "a refusal changes nothing");
                }
                _ => prop_assert!(false, "{:?}: ledger {:?}, model {:?}", m, got, want),
            }
            let live: Vec<(String, Option<u64>, u64)> = ledger
                .instances
                .iter()
                .map(|i| (i.id.clone(), i.holder.as_ref().map(|h| h.conn), i.until_ms))
                .collect();
            let model_live: Vec<_> = model.live.values().cloned().collect();
            prop_assert_eq!(live, model_live);
            let kicked: Vec<String> = ledger.kicked.iter().map(|k| k.id.clone()).collect();
            prop_assert_eq!(&kicked, &model.kicked);
            // A new instance leaves at most `limit` (a resume takes no new slot: a lowered limit
            // applies from the next login on).
            if let (MOp::Admit { limit, .. }, Ok(events)) = (m, &got) {
                if matches!(events.first(), Some(Event::Admitted(_))) {
                    prop_assert!(ledger.instances.len() <= (*limit).max(1));
                }
            }
            // Admission order is strictly increasing; ids are unique.
            prop_assert!(ledger.instances.windows(2).all(|w| w[0].seq < w[1].seq));
            let text = serde_json::to_string(&ledger).unwrap();
            prop_assert_eq!(&serde_json::from_str::<Ledger>(&text).unwrap(), &ledger);
        }
    }
}
