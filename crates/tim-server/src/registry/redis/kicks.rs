//! The recent kicks of each account in Redis, so that `tim_wasm_admin/query_recent_kicks` answers the same
//! on every node, whichever node performed the kick: a list per account under its hash tag, the newest
//! [`KICKS_PER_ACCOUNT`] kept for a day.

use serde_json::{json, Value};
use tim_protocol::Platform;

use super::inner::{kick_type_named, Inner};
use super::keys::AccountKeys;
use crate::registry::kicks::KickRecord;
use crate::registry::{AccountKey, Unavailable};

/// Kicks kept per account.
pub const KICKS_PER_ACCOUNT: isize = 100;

/// How long an account's list lives after its last kick, ms (like the kicked ids).
const TTL_MS: u64 = 86_400_000;

fn encode(record: &KickRecord) -> String {
    json!({
        "t": record.time_ms,
        "id": record.instance_id,
        "p": record.platform.as_str(),
        "k": record.kick_type.as_str(),
        "by": record.by_instance_id,
        "byp": record.by_platform.map(Platform::as_str),
    })
    .to_string()
}

fn decode(account: &AccountKey, text: &str) -> Option<KickRecord> {
    let v: Value = serde_json::from_str(text).ok()?;
    Some(KickRecord {
        account: account.clone(),
        time_ms: v.get("t")?.as_u64()?,
        instance_id: v.get("id")?.as_str()?.to_string(),
        platform: Platform::parse(v.get("p")?.as_str()?)?,
        kick_type: kick_type_named(v.get("k")?.as_str()?)?,
        by_instance_id: v.get("by").and_then(Value::as_str).map(str::to_string),
        by_platform: v.get("byp").and_then(Value::as_str).and_then(Platform::parse),
    })
}

/// Appends a kick to its account's list (one pipeline: push, trim, refresh the TTL).
pub(super) async fn record(inner: &Inner, record: KickRecord) -> Result<(), Unavailable> {
    let key = AccountKeys::new(&record.account).kicks;
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("RPUSH")
        .arg(&key)
        .arg(encode(&record))
        .ignore()
        .cmd("LTRIM")
        .arg(&key)
        .arg(-KICKS_PER_ACCOUNT)
        .arg(-1)
        .ignore()
        .cmd("PEXPIRE")
        .arg(&key)
        .arg(TTL_MS)
        .ignore();
    let mut c = inner.conn.clone();
    inner.guard("kick_log", pipe.query_async::<()>(&mut c)).await
}

/// The account's recent kicks, oldest first.
pub(super) async fn of(inner: &Inner, account: &AccountKey) -> Result<Vec<KickRecord>, Unavailable> {
    let key = AccountKeys::new(account).kicks;
    let mut cmd = redis::cmd("LRANGE");
    cmd.arg(&key).arg(0).arg(-1);
    let mut c = inner.conn.clone();
    let texts: Vec<String> = inner.guard("kick_log", cmd.query_async(&mut c)).await?;
    Ok(texts.iter().filter_map(|t| decode(account, t)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tim_protocol::KickType;

    #[test]
    fn a_record_survives_its_encoding() {
        let account = AccountKey {
            sdk_app_id: 1,
            user_id: "alice".into(),
        };
        let record = KickRecord {
            account: account.clone(),
            time_ms: 1_700_000_000_123,
            instance_id: "old".into(),
            platform: Platform::Web,
            kick_type: KickType::MultipleAccount,
            by_instance_id: Some("new".into()),
            by_platform: Some(Platform::Wx),
        };
        assert_eq!(decode(&account, &encode(&record)), Some(record.clone()));
        let rest = KickRecord {
            kick_type: KickType::RestApi,
            by_instance_id: None,
            by_platform: None,
            ..record
        };
        assert_eq!(decode(&account, &encode(&rest)), Some(rest));
    }
}
