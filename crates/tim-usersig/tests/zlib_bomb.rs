//! Zlib bombs are refused as `Malformed`, quickly, and without allocating more than a small, fixed amount:
//! a counting global allocator measures the peak heap used by `decode` on this thread.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::time::{Duration, Instant};

use tim_usersig::{decode, verify, UserSigError, MAX_INFLATED_LEN, MAX_USERSIG_LEN};

struct CountingAllocator;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    // `try_with`: the thread-locals may be gone while a thread is torn down.
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add_signed(delta);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Heap bytes at peak (above what was live before) while running `f` on this thread.
fn peak_heap<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(base));
    let result = f();
    (result, PEAK.with(Cell::get) - base)
}

/// Cap on the heap a decode may use: inflate state and window, read buffer, the capped output.
const HEAP_CAP: usize = 256 * 1024;

fn zeros_compressed(len: usize) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        encoder.write_all(&chunk[..n]).expect("zlib into a Vec");
        left -= n;
    }
    encoder.finish().expect("zlib into a Vec")
}

fn to_sig(compressed: &[u8]) -> String {
    use base64::Engine;
    common::swap(&base64::engine::general_purpose::STANDARD.encode(compressed))
}

#[test]
fn a_bomb_that_fits_the_length_limit_is_cut_at_the_inflate_cap() {
    // 3 MB of zeros deflate to about 3 KB: short enough to pass the length check, so inflating is what
    // must stop it.
    let sig = to_sig(&zeros_compressed(3_000_000));
    assert!(
        sig.len() <= MAX_USERSIG_LEN,
        "the bomb must reach the inflater ({} chars)",
        sig.len()
    );
    let started = Instant::now();
    let (result, peak) = peak_heap(|| decode(&sig));
    let elapsed = started.elapsed();
    match result {
        Err(UserSigError::Malformed(reason)) => assert!(reason.contains("inflates to more than"), "{reason}"),
        other => panic!("a zlib bomb must be Malformed, got {other:?}"),
    }
    assert!(
        peak < HEAP_CAP,
        "decode used {peak} heap bytes on a bomb (cap {HEAP_CAP})"
    );
    assert!(
        peak > MAX_INFLATED_LEN,
        "the measurement must see the capped output buffer ({peak})"
    );
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

#[test]
fn a_100_megabyte_bomb_is_refused_quickly_and_cheaply() {
    let sig = to_sig(&zeros_compressed(100 * 1024 * 1024));
    let started = Instant::now();
    let (result, peak) = peak_heap(|| verify(&sig, 1_400_000_000, common::KEY, "alice", common::NOW));
    let elapsed = started.elapsed();
    assert!(matches!(result, Err(UserSigError::Malformed(_))), "{result:?}");
    assert!(
        peak < HEAP_CAP,
        "verify used {peak} heap bytes on a bomb (cap {HEAP_CAP})"
    );
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}
