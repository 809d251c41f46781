//! `tim-usersig`: TLSSigAPIv2 UserSig generation and verification.
