//! The account ledger: the multi-instance rule of one account, as a pure state machine.
//!
//! This is the only place the rule is written. A [`Ledger`] is the whole state of one account (its
//! instances in admission order, attached or detached, the admission sequence, the ids it kicked
//! recently, its revocation); [`Ledger::apply`] takes one [`Op`] with `now` and returns the
//! [`Event`]s it caused, or the [`Refusal`] that leaves the ledger unchanged. No clock, no I/O: both
//! registry engines run it (the memory engine under its mutex, the Redis engine between a read and a
//! versioned write), so they cannot disagree about the rule, and it is tested here in simulated time and
//! against a simple model (`ledger_model` tests).
//!
//! The rule:
//! - An admission of a new instance takes a slot; when the account then has more than `limit`
//!   instances, the excess is evicted: **detached instances first** (a socket-less instance never keeps
//!   a slot that a live page needs), earliest admission first, then attached ones, earliest first.
//! - A presented id resumes its instance (same slot, same admission order, nobody evicted), taking it
//!   over from the connection that held it; a presented id that was kicked recently is refused
//!   ([`Refusal::InstanceGone`]); an unknown one (grace over, state lost) is admitted as a new instance
//!   only while a slot is free, so a late resume never evicts the logins that took its place.
//! - A UserSig issued at or before the account's last REST kick is refused ([`Refusal::Revoked`]).
//! - A detached instance keeps its slot until its `until_ms`, then [`Op::Expire`] frees it.
//! - Kicked ids are remembered per account: the newest [`Policy::kicked_capacity`], each for
//!   [`Policy::kicked_ttl_ms`]; a revocation for [`Policy::revocation_retention_ms`].

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use tim_protocol::{KickType, Platform};

use super::ConnId;

/// Who holds an attached instance: a node and one of its connections.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Holder {
    /// The node id (the memory engine's own id when there is one node).
    #[serde(rename = "n")]
    pub node: String,
    /// The connection on that node.
    #[serde(rename = "c")]
    pub conn: ConnId,
}

/// Which holder an operation on an existing instance must find (it acts only if the instance is still
/// held as the caller believes: a connection never acts on an instance that moved on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HolderMatch {
    /// Exactly this connection.
    Exact(Holder),
    /// Any connection of this node (a dead or fenced node's instances).
    Node(String),
}

impl HolderMatch {
    fn matches(&self, holder: &Holder) -> bool {
        match self {
            HolderMatch::Exact(h) => h == holder,
            HolderMatch::Node(node) => &holder.node == node,
        }
    }
}

/// One instance of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Instance id.
    pub id: String,
    /// Admission sequence within the account (login order).
    #[serde(rename = "s")]
    pub seq: u64,
    /// The runtime it runs in.
    #[serde(rename = "p", with = "platform_name")]
    pub platform: Platform,
    /// Login (admission) time, Unix ms.
    #[serde(rename = "t")]
    pub login_ms: u64,
    /// The client address of its last connection.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// The connection holding it; `None` while detached.
    #[serde(rename = "h", default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<Holder>,
    /// While detached: the end of its grace, Unix ms (0 while attached).
    #[serde(rename = "u", default)]
    pub until_ms: u64,
}

impl Instance {
    /// True while a connection holds it.
    pub fn attached(&self) -> bool {
        self.holder.is_some()
    }
}

/// The login that evicted an instance: its `kicked` frame names it ("signed in on wx at 10:42").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evictor {
    /// The new instance's id.
    pub id: String,
    /// Its runtime.
    #[serde(rename = "p", with = "platform_name")]
    pub platform: Platform,
    /// Its login time, Unix ms.
    #[serde(rename = "t")]
    pub login_ms: u64,
}

/// A recently kicked instance id: its resume is refused, and a node that missed the kick learns it here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KickedId {
    /// The instance id.
    pub id: String,
    /// When, Unix ms.
    #[serde(rename = "t")]
    pub at_ms: u64,
    /// Why.
    #[serde(rename = "k", with = "kick_name")]
    pub kick_type: KickType,
    /// The login that evicted it (`multipleAccount`).
    #[serde(rename = "b", default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Evictor>,
}

/// The whole state of one account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// The last admission sequence handed out.
    #[serde(rename = "q", default)]
    pub seq: u64,
    /// Live instances (attached or detached), in admission order.
    #[serde(rename = "i", default)]
    pub instances: Vec<Instance>,
    /// Recently kicked ids, oldest first.
    #[serde(rename = "k", default)]
    pub kicked: Vec<KickedId>,
    /// The last REST kick: UserSigs with `TLS.time` at or before it are refused (Unix s).
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
    /// Until when the revocation is kept, Unix ms.
    #[serde(rename = "ru", default)]
    pub revoked_until_ms: u64,
}

/// How long the ledger remembers what it no longer enforces on live instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Kicked ids remembered per account (the newest).
    pub kicked_capacity: usize,
    /// How long a kicked id is remembered, ms.
    pub kicked_ttl_ms: u64,
    /// How long a REST kick's revocation is kept, ms (UserSigs issued before it and living longer than
    /// this can log in again after it).
    pub revocation_retention_ms: u64,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            kicked_capacity: 16,
            kicked_ttl_ms: 86_400_000,
            revocation_retention_ms: 180 * 86_400_000,
        }
    }
}

/// Why an instance leaves on its own connection's request or condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// `logout()`.
    Logout,
    /// No frame within the idle timeout.
    Idle,
    /// A kick of this one instance (UserSig expiry); its id is remembered as kicked.
    Kick(KickType),
}

/// An admission request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admit {
    /// The instance id: freshly made, or presented by a resuming client.
    pub id: String,
    /// True when the client presented `id`.
    pub presented: bool,
    /// The connection that will hold it.
    pub holder: Holder,
    /// Its runtime.
    pub platform: Platform,
    /// The app's `OnlineWebInstances` (at least 1 is enforced).
    pub limit: usize,
    /// `TLS.time` of the UserSig.
    pub sig_time: u64,
    /// The client's address.
    pub ip: Option<IpAddr>,
}

/// One operation on an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A login or a resume.
    Admit(Admit),
    /// The instance leaves (logout, idle, a kick of one instance), if `holder` still holds it.
    Remove {
        /// Instance id.
        id: String,
        /// Who must hold it.
        holder: HolderMatch,
        /// Why.
        why: Leave,
    },
    /// The connection went away without logout: the instance keeps its slot for `grace_ms` from now.
    Detach {
        /// Instance id.
        id: String,
        /// Who must hold it.
        holder: HolderMatch,
        /// How long the slot is kept, ms (the resume grace, or a shorter one for a closed page).
        grace_ms: u64,
    },
    /// Frees the detached instances whose grace ended at or before now.
    Expire,
    /// REST kick: every instance is kicked and UserSigs issued at or before `revoke_secs` are refused.
    KickAll {
        /// Unix seconds.
        revoke_secs: u64,
    },
}

/// What an operation did, one event per instance it touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new instance took a slot.
    Admitted(Instance),
    /// An instance was resumed by a new connection; `replaced` held it until now.
    Resumed {
        /// The instance, as it is now.
        instance: Instance,
        /// Its previous holder, if it was attached to another connection.
        replaced: Option<Holder>,
    },
    /// An instance lost its slot to a login (multi-instance rule).
    Evicted {
        /// The instance as it was.
        instance: Instance,
        /// The login that took the slot.
        by: Evictor,
    },
    /// An instance left (logout, idle) or was kicked alone (UserSig expiry).
    Removed {
        /// The instance as it was.
        instance: Instance,
        /// Why.
        why: Leave,
    },
    /// REST kick of an instance.
    KickedByAdmin(Instance),
    /// An instance lost its connection and keeps its slot for a while.
    Detached(Instance),
    /// A detached instance's grace ended.
    Expired(Instance),
}

impl Event {
    /// The instance the event is about (as it is now, or as it was when it left).
    pub fn instance(&self) -> &Instance {
        match self {
            Event::Admitted(i) | Event::KickedByAdmin(i) | Event::Detached(i) | Event::Expired(i) => i,
            Event::Resumed { instance, .. } | Event::Evicted { instance, .. } | Event::Removed { instance, .. } => {
                instance
            }
        }
    }

    /// True when the instance no longer exists after this event.
    pub fn removes(&self) -> bool {
        matches!(
            self,
            Event::Evicted { .. } | Event::Removed { .. } | Event::KickedByAdmin(_) | Event::Expired(_)
        )
    }
}

/// Why an admission was refused (the ledger is unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The presented id was kicked, or is unknown while every slot is taken (80007).
    InstanceGone,
    /// The UserSig was issued at or before the account's last REST kick (70052).
    Revoked,
}

impl Ledger {
    /// Applies `op` at `now_ms`. On `Err` the ledger is unchanged.
    pub fn apply(&mut self, op: Op, now_ms: u64, policy: &Policy) -> Result<Vec<Event>, Refusal> {
        self.forget_old(now_ms, policy);
        let events = match op {
            Op::Admit(admit) => self.admit(admit, now_ms)?,
            Op::Remove { id, holder, why } => self.remove(&id, &holder, why, now_ms),
            Op::Detach { id, holder, grace_ms } => self.detach(&id, &holder, now_ms.saturating_add(grace_ms)),
            Op::Expire => self.expire(now_ms),
            Op::KickAll { revoke_secs } => self.kick_all(revoke_secs, now_ms, policy),
        };
        self.trim_kicked(policy);
        Ok(events)
    }

    fn admit(&mut self, req: Admit, now_ms: u64) -> Result<Vec<Event>, Refusal> {
        if self.revoked_at.is_some_and(|t| req.sig_time <= t) {
            return Err(Refusal::Revoked);
        }
        if req.presented && self.kicked.iter().any(|k| k.id == req.id) {
            return Err(Refusal::InstanceGone);
        }
        if let Some(inst) = self.instances.iter_mut().find(|i| i.id == req.id) {
            // Resume: the slot, its order and login time stay; nobody is evicted.
            let replaced = inst.holder.take().filter(|h| *h != req.holder);
            inst.holder = Some(req.holder);
            inst.platform = req.platform;
            inst.until_ms = 0;
            inst.ip = req.ip;
            return Ok(vec![Event::Resumed {
                instance: inst.clone(),
                replaced,
            }]);
        }
        let limit = req.limit.max(1);
        if req.presented && self.instances.len() >= limit {
            // An unknown id must not evict the logins that took its place.
            return Err(Refusal::InstanceGone);
        }
        self.seq += 1;
        let instance = Instance {
            id: req.id,
            seq: self.seq,
            platform: req.platform,
            login_ms: now_ms,
            ip: req.ip,
            holder: Some(req.holder),
            until_ms: 0,
        };
        let by = Evictor {
            id: instance.id.clone(),
            platform: instance.platform,
            login_ms: now_ms,
        };
        self.instances.push(instance.clone());
        let mut events = vec![Event::Admitted(instance)];
        while self.instances.len() > limit {
            // Detached first, earliest first; then attached, earliest first. The new instance is the
            // last and attached, and at least one other precedes it, so it is never chosen.
            let pos = self.instances.iter().position(|i| !i.attached()).unwrap_or(0);
            let victim = self.instances.remove(pos);
            self.remember_kick(&victim.id, KickType::MultipleAccount, Some(by.clone()), now_ms);
            events.push(Event::Evicted {
                instance: victim,
                by: by.clone(),
            });
        }
        Ok(events)
    }

    fn take(&mut self, id: &str, holder: &HolderMatch) -> Option<Instance> {
        let pos = self
            .instances
            .iter()
            .position(|i| i.id == id && i.holder.as_ref().is_some_and(|h| holder.matches(h)))?;
        Some(self.instances.remove(pos))
    }

    fn remove(&mut self, id: &str, holder: &HolderMatch, why: Leave, now_ms: u64) -> Vec<Event> {
        let Some(instance) = self.take(id, holder) else {
            return Vec::new();
        };
        if let Leave::Kick(kick_type) = why {
            self.remember_kick(id, kick_type, None, now_ms);
        }
        vec![Event::Removed { instance, why }]
    }

    fn detach(&mut self, id: &str, holder: &HolderMatch, until_ms: u64) -> Vec<Event> {
        let Some(inst) = self
            .instances
            .iter_mut()
            .find(|i| i.id == id && i.holder.as_ref().is_some_and(|h| holder.matches(h)))
        else {
            return Vec::new();
        };
        inst.holder = None;
        inst.until_ms = until_ms;
        vec![Event::Detached(inst.clone())]
    }

    fn expire(&mut self, now_ms: u64) -> Vec<Event> {
        let mut events = Vec::new();
        self.instances.retain(|i| {
            let due = !i.attached() && i.until_ms <= now_ms;
            if due {
                events.push(Event::Expired(i.clone()));
            }
            !due
        });
        events
    }

    fn kick_all(&mut self, revoke_secs: u64, now_ms: u64, policy: &Policy) -> Vec<Event> {
        self.revoked_at = Some(self.revoked_at.unwrap_or(0).max(revoke_secs));
        self.revoked_until_ms = now_ms.saturating_add(policy.revocation_retention_ms);
        let removed = std::mem::take(&mut self.instances);
        let mut events = Vec::with_capacity(removed.len());
        for instance in removed {
            self.remember_kick(&instance.id, KickType::RestApi, None, now_ms);
            events.push(Event::KickedByAdmin(instance));
        }
        events
    }

    fn remember_kick(&mut self, id: &str, kick_type: KickType, by: Option<Evictor>, now_ms: u64) {
        self.kicked.retain(|k| k.id != id);
        self.kicked.push(KickedId {
            id: id.to_string(),
            at_ms: now_ms,
            kick_type,
            by,
        });
    }

    fn trim_kicked(&mut self, policy: &Policy) {
        let over = self.kicked.len().saturating_sub(policy.kicked_capacity);
        self.kicked.drain(..over);
    }

    /// Forgets kicked ids and a revocation past their retention.
    fn forget_old(&mut self, now_ms: u64, policy: &Policy) {
        self.kicked
            .retain(|k| k.at_ms.saturating_add(policy.kicked_ttl_ms) > now_ms);
        if self.revoked_at.is_some() && self.revoked_until_ms <= now_ms {
            self.revoked_at = None;
            self.revoked_until_ms = 0;
        }
    }

    /// The kicked entry for `id`, if remembered.
    pub fn kicked(&self, id: &str) -> Option<&KickedId> {
        self.kicked.iter().find(|k| k.id == id)
    }

    /// The instance with this id, if live.
    pub fn instance(&self, id: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.id == id)
    }

    /// Until when this ledger must be kept (Unix ms), `None` while it holds instances (kept for as long
    /// as they live). A ledger past this time equals an empty one: a store may drop it.
    pub fn retained_until(&self, policy: &Policy) -> Option<u64> {
        if !self.instances.is_empty() {
            return None;
        }
        let kicks = self
            .kicked
            .iter()
            .map(|k| k.at_ms.saturating_add(policy.kicked_ttl_ms))
            .max()
            .unwrap_or(0);
        let revocation = if self.revoked_at.is_some() {
            self.revoked_until_ms
        } else {
            0
        };
        Some(kicks.max(revocation))
    }

    /// True when the ledger holds nothing (a store may drop it at once).
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty() && self.kicked.is_empty() && self.revoked_at.is_none()
    }
}

mod platform_name {
    use serde::{Deserialize, Deserializer, Serializer};
    use tim_protocol::Platform;

    pub fn serialize<S: Serializer>(p: &Platform, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Platform, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Platform::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown platform {name:?}")))
    }
}

mod kick_name {
    use serde::{Deserialize, Deserializer, Serializer};
    use tim_protocol::KickType;

    pub fn serialize<S: Serializer>(k: &KickType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(k.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<KickType, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        KickType::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown kick type {name:?}")))
    }
}
