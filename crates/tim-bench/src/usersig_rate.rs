//! UserSig verifications per second on one core, beside the floor: the HMAC-SHA256 over the same signed
//! content, which every verification must compute (the rest is base64, inflate and JSON).

use std::hint::black_box;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Operations per second of both measurements.
#[derive(Debug, Clone, Copy)]
pub struct VerifyRate {
    /// `tim_usersig::verify` calls per second (each succeeds).
    pub verify_per_s: f64,
    /// HMAC-SHA256 over the signed content, per second.
    pub hmac_per_s: f64,
}

/// Measures on the calling thread (one core) for `duration` each.
pub fn measure(duration: Duration) -> Result<VerifyRate, String> {
    let (app, key, user, now) = (
        1_400_000_000u64,
        "bench-secret-key-0123456789abcdef",
        "bench-user-1",
        1_800_000_000,
    );
    let sig = tim_usersig::gen_usersig(app, key, user, 86_400, now, None);
    tim_usersig::verify(&sig, app, key, user, now).map_err(|e| format!("the bench's own UserSig fails: {e}"))?;
    let verify_per_s = rate(duration, || {
        black_box(tim_usersig::verify(black_box(&sig), app, key, user, now).is_ok());
    });
    let content = tim_usersig::signed_content(user, app, now, 86_400, None);
    let hmac_per_s = rate(duration, || {
        let mut mac = match Hmac::<Sha256>::new_from_slice(black_box(key.as_bytes())) {
            Ok(mac) => mac,
            Err(_) => return,
        };
        mac.update(black_box(content.as_bytes()));
        black_box(mac.finalize().into_bytes());
    });
    Ok(VerifyRate {
        verify_per_s,
        hmac_per_s,
    })
}

/// Calls `op` in batches until `duration` has passed; returns calls per second.
fn rate(duration: Duration, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < duration {
        for _ in 0..256 {
            op();
        }
        calls += 256;
    }
    calls as f64 / start.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_rates_are_measured() {
        let r = super::measure(std::time::Duration::from_millis(50)).unwrap();
        assert!(r.verify_per_s > 100.0 && r.hmac_per_s > r.verify_per_s, "{r:?}");
    }
}
