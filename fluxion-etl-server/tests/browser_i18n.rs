//! The page's two languages stay complete: every text key exists in Spanish and in English, and
//! every key the page uses (`t("…")` in the scripts, `data-i18n` in the HTML) is defined — a
//! missing key would show its name to the operator.

use std::collections::BTreeSet;
use std::path::Path;

fn asset(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets")
            .join(name),
    )
    .unwrap_or_else(|e| panic!("read assets/{name}: {e}"))
}

/// The keys of one language's table in `i18n.js` (`  es: { key: "…", … },`).
fn table_keys(source: &str, lang: &str) -> BTreeSet<String> {
    let start = source
        .find(&format!("\n  {lang}: {{\n"))
        .unwrap_or_else(|| panic!("no `{lang}` table in i18n.js"));
    let body = &source[start..];
    let end = body.find("\n  },").expect("the table's end");
    body[..end]
        .lines()
        .skip(2)
        .filter_map(|line| {
            let line = line.trim();
            let (key, _) = line.split_once(':')?;
            (!key.starts_with("//") && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .then(|| key.to_owned())
        })
        .collect()
}

/// Every literal argument of `call(` in a source (`t("err_401"`, `t('x'`).
fn literal_args(source: &str, call: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = source;
    while let Some(at) = rest.find(call) {
        let tail = &rest[at + call.len()..];
        rest = tail;
        // Only whole calls: `t(` not preceded by an identifier character.
        let before = source.len() - tail.len() - call.len();
        if before > 0 {
            let prev = source.as_bytes()[before - 1];
            if prev.is_ascii_alphanumeric() || prev == b'_' || prev == b'.' {
                continue;
            }
        }
        let Some(quote) = tail.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        if let Some(end) = tail[1..].find(quote) {
            out.insert(tail[1..=end].to_owned());
        }
    }
    out
}

/// Every value of an HTML attribute (`data-i18n="title"`).
fn attribute_values(html: &str, attr: &str) -> BTreeSet<String> {
    let needle = format!("{attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let tail = &html[at + needle.len()..];
            tail.find('"').map(|end| tail[..end].to_owned())
        })
        .collect()
}

#[test]
fn spanish_and_english_have_the_same_keys() {
    let source = asset("i18n.js");
    let es = table_keys(&source, "es");
    let en = table_keys(&source, "en");
    assert!(
        es.len() > 100,
        "the Spanish table was read: {} keys",
        es.len()
    );
    let only_es: Vec<_> = es.difference(&en).collect();
    let only_en: Vec<_> = en.difference(&es).collect();
    assert!(
        only_es.is_empty() && only_en.is_empty(),
        "keys only in Spanish: {only_es:?}; only in English: {only_en:?}"
    );
}

#[test]
fn every_key_the_page_uses_is_defined() {
    let es = table_keys(&asset("i18n.js"), "es");
    let mut used = BTreeSet::new();
    // Every script: the page is one module per panel.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let mut scripts = 0;
    for entry in std::fs::read_dir(&dir).expect("the assets folder") {
        let name = entry.expect("an asset").file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".js") {
            used.extend(literal_args(&asset(&name), "t("));
            scripts += 1;
        }
    }
    assert!(scripts >= 10, "the page's scripts were read: {scripts}");
    let html = asset("index.html");
    for attr in ["data-i18n", "data-i18n-label", "data-i18n-placeholder"] {
        used.extend(attribute_values(&html, attr));
    }
    assert!(used.len() > 50, "the page's keys were read: {used:?}");
    let missing: Vec<_> = used.difference(&es).collect();
    assert!(missing.is_empty(), "keys used but not defined: {missing:?}");
}

#[test]
fn the_readers_find_what_they_should() {
    let js = r#"t("a"); x.t("no"); tt("no"); t('b', { n }); t(key)"#;
    assert_eq!(
        literal_args(js, "t("),
        ["a", "b"].map(String::from).into_iter().collect()
    );
    let html = r#"<h1 data-i18n="title">x</h1><b data-i18n-label="close">"#;
    assert_eq!(
        attribute_values(html, "data-i18n"),
        ["title"].map(String::from).into_iter().collect()
    );
}
