//! The userbuf that the official signers' `genPrivateMapKey` / `genPrivateMapKeyWithStringRoomID` bind into
//! a UserSig (a TRTC room permission), byte for byte.

/// The room a private map key grants access to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room<'a> {
    /// A numeric room id (`genPrivateMapKey`): layout version 0.
    Numeric(u32),
    /// A string room id (`genPrivateMapKeyWithStringRoomID`): layout version 1, numeric id 0.
    Named(&'a str),
}

/// Builds the private-map-key userbuf, big-endian throughout:
/// `ver:u8, len:u16, identifier, sdkappid:u32, room_id:u32, expires_at:u32, privilege_map:u32,
/// account_type:u32 (0)`, then for a named room `len:u16, room name`.
///
/// `sdk_app_id` and `expires_at` keep their low 32 bits, as the official signers do. Strings are written
/// as UTF-8 (the official Node signer writes one byte per UTF-16 unit: the same for ASCII ids).
/// `None` when the identifier or room name is longer than 65535 bytes.
pub fn private_map_key_userbuf(
    identifier: &str,
    sdk_app_id: u64,
    room: Room<'_>,
    expires_at: u64,
    privilege_map: u32,
) -> Option<Vec<u8>> {
    let identifier_len = u16::try_from(identifier.len()).ok()?;
    let (version, room_id, room_name) = match room {
        Room::Numeric(id) => (0u8, id, None),
        Room::Named(name) => (1u8, 0, Some((u16::try_from(name.len()).ok()?, name))),
    };
    let mut buf = Vec::with_capacity(23 + identifier.len() + room_name.map_or(0, |(_, name)| 2 + name.len()));
    buf.push(version);
    buf.extend_from_slice(&identifier_len.to_be_bytes());
    buf.extend_from_slice(identifier.as_bytes());
    for word in [sdk_app_id as u32, room_id, expires_at as u32, privilege_map, 0] {
        buf.extend_from_slice(&word.to_be_bytes());
    }
    if let Some((name_len, name)) = room_name {
        buf.extend_from_slice(&name_len.to_be_bytes());
        buf.extend_from_slice(name.as_bytes());
    }
    Some(buf)
}
