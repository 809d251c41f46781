//! Key and channel names in Redis (listed in `docs/scale-out.md`).
//!
//! Every key of one account carries the hash tag `{sdkappid:userid}`, so that the admission script,
//! which touches them all, runs on one Redis Cluster slot.

use crate::registry::AccountKey;

/// The keys of one account.
pub(super) struct AccountKeys {
    /// Hash: `v` the version (bumped by every write), `d` the account's ledger as JSON (see `ledger`).
    /// No TTL while the account has instances; then kept until its recent kicks and revocation expire.
    pub ledger: String,
    /// List: the account's recent kicks (JSON records) for the admin API, newest last.
    pub kicks: String,
}

impl AccountKeys {
    pub fn new(account: &AccountKey) -> AccountKeys {
        let tag = format!("tim:{{{}:{}}}", account.sdk_app_id, account.user_id);
        AccountKeys {
            ledger: format!("{tag}:ledger"),
            kicks: format!("{tag}:kicks"),
        }
    }
}

/// Hash of an app's settings set through the admin API (`owi`: OnlineWebInstances).
pub(super) fn app_settings(sdk_app_id: u64) -> String {
    format!("tim:app:{{{sdk_app_id}}}")
}

/// Counter: the message sequence of the C2C conversation between two users, under the conversation's own
/// hash tag (the pair sorted, the first ID length-prefixed so that no two pairs share a key).
pub(super) fn conversation_seq(sdk_app_id: u64, a: &str, b: &str) -> String {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    format!("tim:{{{sdk_app_id}:c2c:{}:{first}:{second}}}:mseq", first.len())
}

/// How long a conversation's sequence counter outlives its last message, ms (7 days).
pub(super) const CONVERSATION_SEQ_TTL_MS: u64 = 7 * 86_400_000;

/// String with a TTL, refreshed by the live node.
pub(super) fn node_alive(node: &str) -> String {
    format!("tim:node:{{{node}}}:alive")
}

/// Set of instance refs held by the node (what to purge when it dies).
pub(super) fn node_index(node: &str) -> String {
    format!("tim:node:{{{node}}}:inst")
}

/// The node's (sharded) pub/sub channel: kicks, replacements and messages for its connections.
pub(super) fn node_channel(node: &str) -> String {
    format!("tim:node:{{{node}}}:ch")
}

/// Sorted set: node id scored by its last heartbeat, Unix ms.
pub(super) const NODES: &str = "tim:nodes";

/// Sorted set: detached instance refs scored by the end of their resume grace, Unix ms.
pub(super) const DETACHED: &str = "tim:detached";

/// Names an instance in the sets that span accounts.
pub(super) fn instance_ref(account: &AccountKey, instance_id: &str) -> String {
    serde_json::json!([account.sdk_app_id, account.user_id, instance_id]).to_string()
}

/// The account and instance id of an [`instance_ref`].
pub(super) fn parse_instance_ref(text: &str) -> Option<(AccountKey, String)> {
    let (sdk_app_id, user_id, id): (u64, String, String) = serde_json::from_str(text).ok()?;
    Some((AccountKey { sdk_app_id, user_id }, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_keys_share_one_hash_tag_and_refs_round_trip() {
        let account = AccountKey {
            sdk_app_id: 7,
            user_id: "a b\"c".into(),
        };
        let keys = AccountKeys::new(&account);
        for key in [&keys.ledger, &keys.kicks] {
            assert!(key.starts_with("tim:{7:a b\"c}:"), "{key}");
        }
        let r = instance_ref(&account, "abc");
        assert_eq!(parse_instance_ref(&r), Some((account, "abc".to_string())));
        assert_eq!(parse_instance_ref("[1,2]"), None);
    }
}
