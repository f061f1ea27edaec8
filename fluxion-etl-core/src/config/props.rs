//! Property tests of the configuration loader: any text is an answer, never a panic, and a
//! value of the wrong type or range is an error that names its key.

use proptest::prelude::*;

use super::Config;

/// A configuration that loads, one `key = value` per line.
const BASE: &str = r#"[destination]
url = "sqlite://fluxion.db"
retention_days = 90
connect_timeout_secs = 5
keep_inventory_history = true
[batch]
batch_size = 1000
max_workers = 2
request_timeout_secs = 600
retries = 3
retry_delay_ms = 5000
[klk]
base_url = "http://127.0.0.1:7002"
[schedule]
execution_hour = 5
max_retries = 3
opening_hour = 6
[gaps]
behind_days = 1
critical_days = 7
[[stores]]
id = "tienda_01"
name = "PERIFERICO"
[stores.source]
system = "klk"
branch = "SUC001"
warehouse = "APP-TPF"
"#;

/// A TOML value of any type, in or out of range.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (-5i64..30).prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        (-1.0e6f64..1.0e6).prop_map(|f| format!("{f:?}")),
        "[a-z:/0-9.]{0,16}".prop_map(|s| format!("{s:?}")),
        Just("[1, 2]".to_owned()),
        Just("{ a = 1 }".to_owned()),
        Just("2025-13-45".to_owned()),
    ]
}

proptest! {
    #![proptest_config(crate::model::test_support::proptest_config(128))]

    /// One value replaced by anything: it loads, or the error names the key it replaced.
    #[test]
    fn a_bad_value_is_an_error_naming_its_key(line in any::<prop::sample::Index>(), value in toml_value()) {
        let lines: Vec<&str> = BASE.lines().collect();
        let settable: Vec<usize> = (0..lines.len()).filter(|i| lines[*i].contains(" = ")).collect();
        let at = settable[line.index(settable.len())];
        let key = lines[at].split(" = ").next().unwrap();
        let mut text: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        text[at] = format!("{key} = {value}");
        if let Err(e) = Config::from_toml_str(&text.join("\n"), "inline") {
            let message = e.to_string();
            prop_assert!(message.contains(key), "{key} = {value}: {message}");
        }
    }

    /// Any text: an answer, never a panic; an error says where (`inline:` and a position).
    #[test]
    fn any_text_is_an_answer(text in "\\PC{0,200}") {
        if let Err(e) = Config::from_toml_str(&text, "inline") {
            prop_assert!(e.to_string().starts_with("inline"), "{e}");
        }
    }
}
