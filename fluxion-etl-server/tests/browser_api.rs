//! The control-centre page calls only the documented API: every `/api/` path written in its
//! assets must be a path of the server's OpenAPI document (which is generated from the router's
//! own route groups), and every path the page needs must be there.
//!
//! The browser test (`tests/browser.rs`) checks the same at run time, on the requests the page
//! actually made.

use std::collections::BTreeSet;
use std::path::Path;

use fluxion_etl_server::openapi;

/// Every `/api/...` literal in a text: from `/api/` to the first character that cannot be part
/// of a path (a quote, `?`, `#`, whitespace, `` ` ``, `$`).
fn api_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("/api/") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '?' | '#' | '$' | ')' | ',')
            })
            .unwrap_or(tail.len());
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

fn documented() -> BTreeSet<String> {
    let doc = openapi::document();
    doc["paths"]
        .as_object()
        .expect("the OpenAPI document has paths")
        .keys()
        .cloned()
        .collect()
}

#[test]
fn the_page_uses_only_documented_api_paths() {
    let documented = documented();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let mut used = BTreeSet::new();
    let mut undocumented = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the assets folder") {
        let path = entry.expect("an asset").path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for p in api_paths(&text) {
            if !documented.contains(&p) {
                undocumented.push(format!(
                    "{}: {p}",
                    path.file_name().unwrap_or_default().to_string_lossy()
                ));
            }
            used.insert(p);
        }
    }
    assert!(
        undocumented.is_empty(),
        "the page calls paths the OpenAPI document does not list: {undocumented:#?}\ndocumented: {documented:#?}"
    );
    // What the page is for needs these (seeds 000 and 003); a page that lost one is broken.
    for needed in [
        "/api/etl/scheduler/status",
        "/api/etl/scheduler/enable",
        "/api/etl/scheduler/disable",
        "/api/etl/scheduler/trigger",
        "/api/etl/run",
        "/api/etl/ventas/status",
        "/api/etl/ventas/logs",
        "/api/ventas/gaps",
        "/api/etl/connectivity",
        "/api/etl/history",
        "/api/etl/history/{id}",
        "/api/etl/stats",
    ] {
        assert!(used.contains(needed), "the page no longer uses {needed}");
    }
}

#[test]
fn the_scanner_finds_paths_in_every_quoting() {
    let js = r#"a = "/api/etl/history"; b = '/api/ventas/gaps?x=1'; c = `/api/etl/history/${id}`; d = "/api/" + x;"#;
    assert_eq!(
        api_paths(js),
        [
            "/api/etl/history",
            "/api/ventas/gaps",
            "/api/etl/history/",
            "/api/"
        ]
    );
}
