//! The control-centre page at `/`: plain HTML, CSS and JavaScript modules embedded in the binary.
//!
//! There is no front-end build: the files under `assets/` are served as written, so the page a
//! developer edits is the page an operator gets. Each response carries its content type, an
//! `ETag` (a hash of the embedded bytes) with `Cache-Control: no-cache` — browsers revalidate and
//! get a `304` until a new build changes the file — and a Content-Security-Policy that lets the
//! page load only its own scripts and styles and talk only to its own origin.
//!
//! The page calls only the documented API (`/api/etl/...`, `/api/ventas/gaps`); the browser test
//! `tests/browser_api.rs` checks every `/api/` path in these files against the server's OpenAPI
//! document.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The page's policy: its own scripts, styles and API only; no inline script, no framing, no
/// form posts elsewhere. Inline SVG built from the DOM needs nothing more.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// Every file the page consists of. `index.html` is served at `/`, the rest under `/assets/`;
/// `app.js` is the entry module and imports one module per panel.
const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../assets/index.html"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../assets/app.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/app.js"),
    },
    Asset {
        name: "dom.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/dom.js"),
    },
    Asset {
        name: "badges.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/badges.js"),
    },
    Asset {
        name: "state.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/state.js"),
    },
    Asset {
        name: "errors.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/errors.js"),
    },
    Asset {
        name: "shell.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/shell.js"),
    },
    Asset {
        name: "connectivity.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/connectivity.js"),
    },
    Asset {
        name: "scheduler.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/scheduler.js"),
    },
    Asset {
        name: "gaps.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/gaps.js"),
    },
    Asset {
        name: "logs.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/logs.js"),
    },
    Asset {
        name: "history.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/history.js"),
    },
    Asset {
        name: "detail.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/detail.js"),
    },
    Asset {
        name: "stats.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/stats.js"),
    },
    Asset {
        name: "api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/api.js"),
    },
    Asset {
        name: "i18n.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/i18n.js"),
    },
    Asset {
        name: "format.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/format.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../assets/favicon.svg"),
    },
];

/// The routes of the page: `/` and `/assets/{name}`. Merge them into the API's router; they need
/// no state and no token (the page holds no data; it asks the API for everything with the
/// operator's token).
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/", get(index))
        .route("/assets/{name}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    if name == "index.html" {
        return StatusCode::NOT_FOUND.into_response();
    }
    serve(&name, &headers)
}

/// The ETags, computed once from the embedded bytes (same order as [`ASSETS`]).
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{:016x}\"", fnv1a(a.body)))
            .collect()
    })
}

fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some((index, asset)) = ASSETS.iter().enumerate().find(|(_, a)| a.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = &etags()[index];
    let mut headers = HeaderMap::new();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(ETAG, value);
    }
    let fresh = request
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == etag || tag.trim() == "*");
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    (StatusCode::OK, headers, asset.body).into_response()
}

/// 64-bit FNV-1a: enough to tell two builds' files apart, no dependency needed.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{to_bytes, Body};
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(path: &str, if_none_match: Option<&str>) -> Response {
        let mut request = Request::get(path);
        if let Some(tag) = if_none_match {
            request = request.header(IF_NONE_MATCH, tag);
        }
        routes::<()>()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    /// The scheduler form allows exactly what the API accepts (it once capped retries at 10
    /// while the API took 0–20).
    #[test]
    fn the_scheduler_form_allows_the_api_ranges() {
        let html = std::str::from_utf8(ASSETS[0].body).unwrap();
        for (name, low, high) in fluxion_etl_core::schedule::ScheduleSettings::RANGES {
            let at = html
                .find(&format!("<input name=\"{name}\""))
                .unwrap_or_else(|| panic!("no input {name}"));
            let tag = &html[at..at + html[at..].find('>').unwrap()];
            assert!(tag.contains(&format!(" min=\"{low}\"")), "{tag}");
            assert!(tag.contains(&format!(" max=\"{high}\"")), "{tag}");
        }
    }

    #[tokio::test]
    async fn index_is_html_with_policy_and_revalidation() {
        let res = get("/", None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let h = res.headers().clone();
        assert_eq!(h[CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(h[CACHE_CONTROL], "no-cache");
        assert_eq!(h[X_CONTENT_TYPE_OPTIONS], "nosniff");
        let csp = h[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
        let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
        let html = std::str::from_utf8(&body).unwrap();
        assert!(html.contains("<script type=\"module\" src=\"/assets/app.js\">"));

        let etag = h[ETAG].to_str().unwrap().to_owned();
        let again = get("/", Some(&etag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let other = get("/", Some("\"0000000000000000\"")).await;
        assert_eq!(other.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn assets_have_their_content_types() {
        for (path, ty) in [
            ("/assets/app.js", "text/javascript; charset=utf-8"),
            ("/assets/i18n.js", "text/javascript; charset=utf-8"),
            ("/assets/app.css", "text/css; charset=utf-8"),
            ("/assets/favicon.svg", "image/svg+xml"),
        ] {
            let res = get(path, None).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            assert_eq!(res.headers()[CONTENT_TYPE], ty, "{path}");
        }
    }

    #[tokio::test]
    async fn unknown_assets_are_404() {
        for path in [
            "/assets/nope.js",
            "/assets/index.html",
            "/assets/..%2FCargo.toml",
        ] {
            assert_eq!(
                get(path, None).await.status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
    }

    #[test]
    fn every_asset_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.name.to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }
}
