//! What the registry's answers mean for the world outside it, applied in one place: the kick of a
//! connection of this node (kicks of other nodes' connections travel on the registry's bus), the kick
//! log, the metrics and the app's state-change callbacks.
//!
//! The connection, its login, the admin API and the sweeps ask the registry and hand what it answered
//! here; none of them writes a callback, a kick record or a kick metric itself. Each transition is
//! reported by the one node whose registry call performed it, so it is reported once.

pub mod callback;
pub mod settle;

use std::net::IpAddr;

use tim_protocol::{KickType, Platform};

use crate::app_state::AppState;
use crate::effects::callback::{Transition, REST_API_PLATFORM};
use crate::hub::Control;
use crate::registry::kicks::KickRecord;
use crate::registry::{AccountKey, Admission, ConnId, Evicted, Evictor};

/// Why an instance left the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Left {
    /// Its client logged out.
    Logout,
    /// Its connection sent nothing within the idle timeout.
    Idle,
    /// Its UserSig expired while it was online (its connection closes itself).
    SigExpired,
    /// A login took its slot (the multi-instance rule).
    Evicted {
        /// The new instance's id.
        by_instance_id: String,
        /// Its platform and login time.
        by: Evictor,
    },
    /// An administrator kicked the account.
    AdminKick,
    /// Its socket went away and its grace ran out.
    GraceOver,
}

/// The instance that left, as the registry returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gone {
    /// Its instance id.
    pub instance_id: String,
    /// Its runtime.
    pub platform: Platform,
    /// The client address of its last connection.
    pub ip: Option<IpAddr>,
    /// The connection of this node to tell, if one held it.
    pub conn: Option<ConnId>,
}

impl From<&Evicted> for Gone {
    fn from(e: &Evicted) -> Gone {
        Gone {
            instance_id: e.instance_id.clone(),
            platform: e.platform,
            ip: e.ip,
            conn: e.conn,
        }
    }
}

impl AppState {
    /// Applies the effects of an instance leaving, once per instance and transition. True when a
    /// connection of this node was told to kick.
    pub fn instance_left(&self, account: &AccountKey, gone: &Gone, why: Left) -> bool {
        let mut signalled = false;
        let kick = match &why {
            Left::SigExpired => Some((KickType::UserSigExpired, None, None)),
            Left::Evicted { by_instance_id, by } => {
                Some((KickType::MultipleAccount, Some(by_instance_id.clone()), Some(*by)))
            }
            Left::AdminKick => Some((KickType::RestApi, None, None)),
            Left::Logout | Left::Idle | Left::GraceOver => None,
        };
        if let Some((kick_type, by_instance_id, by)) = kick {
            self.metrics.kick(kick_type.as_str());
            self.record_kick(KickRecord {
                account: account.clone(),
                time_ms: self.clock.unix_ms(),
                instance_id: gone.instance_id.clone(),
                platform: gone.platform,
                kick_type,
                by_instance_id,
                by_platform: by.map(|b| b.platform),
            });
            // The connection of an expired UserSig kicks itself; the others are told here.
            if let (Some(conn), false) = (gone.conn, why == Left::SigExpired) {
                let control = Control::Kick {
                    instance_id: gone.instance_id.clone(),
                    kick_type,
                    by,
                };
                signalled = self.hub.control(conn, control);
            }
        }
        let transition = match why {
            Left::Logout => Transition::Logout,
            Left::Idle => Transition::TimeOut,
            Left::SigExpired => Transition::UserSigExpired,
            Left::AdminKick => Transition::RestKick,
            Left::GraceOver => Transition::LinkClose,
            // Reported by the evicting login's own callback (`KickedDevice`), like the vendor's.
            Left::Evicted { .. } => return signalled,
        };
        let platform = match why {
            Left::AdminKick => REST_API_PLATFORM,
            _ => gone.platform.as_str(),
        };
        self.state_change(account, transition, platform, gone.ip, Vec::new());
        signalled
    }

    /// Applies the effects of an admission: the evicted instances' kicks, the replaced connection's
    /// close, the `Login` callback of a fresh login. True when a connection of this node was told to
    /// kick (the caller lets it run before answering, so the instance losing its slot hears first).
    pub fn instance_admitted(
        &self,
        account: &AccountKey,
        instance_id: &str,
        platform: Platform,
        ip: IpAddr,
        login_ms: u64,
        admission: &Admission,
    ) -> bool {
        let by = Evictor { platform, login_ms };
        let mut signalled = false;
        for evicted in &admission.evicted {
            let why = Left::Evicted {
                by_instance_id: instance_id.to_string(),
                by,
            };
            signalled |= self.instance_left(account, &Gone::from(evicted), why);
        }
        // A resume within the grace is no transition for the app's backend: no callback.
        if !admission.resumed {
            let kicked = admission.evicted.iter().map(|e| e.platform).collect();
            self.state_change(account, Transition::Login, platform.as_str(), Some(ip), kicked);
        }
        if let Some(old) = admission.replaced_conn {
            let control = Control::Replaced {
                instance_id: instance_id.to_string(),
            };
            self.hub.control(old, control);
        }
        signalled
    }
}
