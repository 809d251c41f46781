//! `docs/error-codes.md` must show exactly the table in `codes.rs`.

use std::path::Path;

use tim_protocol::ErrorCode;

const HEADER: &str = "# Error codes\n\n\
Every code that the tim-wasm SDK (`imError.code`, `TIM.EVENT.ERROR`) and tim-server (error frames, admin API\n\
`ErrorCode`) produce. Codes below 10000 come from the SDK, the others from the server. Numbers are the\n\
official Tencent Cloud IM ones where the situation is the same; 8001-8099 and 80001-80099 are our own.\n\
This file is generated from `crates/tim-protocol/src/codes.rs`: run\n\
`TIM_UPDATE_DOCS=1 cargo test -p tim-protocol --test error_docs` after changing the table.\n\n";

#[test]
fn error_codes_doc_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/error-codes.md");
    let want = format!("{HEADER}{}", ErrorCode::markdown_table());
    if std::env::var_os("TIM_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).expect("write docs/error-codes.md");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/error-codes.md is stale: run `TIM_UPDATE_DOCS=1 cargo test -p tim-protocol --test error_docs`"
    );
}
