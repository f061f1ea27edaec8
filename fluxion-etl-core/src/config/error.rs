//! [`ConfigError`], and how a parse error or an invalid value finds the key and the line it
//! names in the document.

use super::CONFIG_ENV;

/// A store id the configuration does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown store `{id}`; configured stores: {}", configured.join(", "))]
pub struct UnknownStore {
    /// The id asked for.
    pub id: String,
    /// The configured stores' ids, in the configuration's order.
    pub configured: Vec<String>,
}

/// An invalid configuration. Every variant names the key; parse and validation errors also
/// carry the line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("{origin}:{line}:{column}: {key_hint}{message}")]
    Parse {
        /// The file (or `inline`).
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// `key `x`: ` when the key is known.
        key_hint: String,
        /// What is wrong.
        message: String,
    },
    /// A value is well-typed but not acceptable.
    #[error("{origin}:{line}: invalid value for `{key}`: {message}")]
    Invalid {
        /// The file (or `inline`).
        origin: String,
        /// 1-based line of the key (0 when it is not in the file, e.g. a missing table).
        line: usize,
        /// Dotted path of the key, e.g. `stores[2].source.port`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// No config file was given and none is needed by the command… except this one.
    #[error("no configuration: pass --config FILE or set {CONFIG_ENV}")]
    Missing,
}

impl ConfigError {
    /// The dotted key the error is about, when known.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            ConfigError::Parse { key_hint, .. } => key_hint
                .strip_prefix("key `")
                .and_then(|s| s.split('`').next()),
            _ => None,
        }
    }
}

/// The [`ConfigError::Parse`] of a TOML error in `text`, with the key it is about.
pub(super) fn parse_error(text: &str, origin: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column) = e
        .span()
        .map(|span| line_col(text, span.start))
        .unwrap_or((0, 0));
    let message = e.message().trim().to_owned();
    // The key is either quoted in the message (unknown or missing field) or the one written
    // on the offending line.
    let key = quoted_after(&message, "field `")
        .or_else(|| {
            text.lines()
                .nth(line.saturating_sub(1))
                .and_then(|l| l.split_once('='))
                .map(|(k, _)| k.trim().to_owned())
        })
        .or_else(|| key_in_table(text, line, &message))
        .filter(|k| !k.is_empty());
    ConfigError::Parse {
        origin: origin.to_owned(),
        line,
        column,
        key_hint: key.map(|k| format!("key `{k}`: ")).unwrap_or_default(),
        message,
    }
}

/// When an error points at a whole table (serde reads a tagged table, such as a store's
/// `[stores.source]`, as one value), the key inside it whose value is the one the message
/// quotes: "invalid type: integer `0`" → the table's `branch = 0`.
fn key_in_table(text: &str, line: usize, message: &str) -> Option<String> {
    let rest = message.strip_prefix("invalid type: ")?;
    let rest = rest.split(", expected").next()?;
    // How the offending value is written: its exact text, or the bracket it opens with.
    let matches: Box<dyn Fn(&str) -> bool> = if let Some(quoted) = quoted_after(rest, "`") {
        // integer `0`, floating point `0.5`, boolean `true`
        Box::new(move |v| v == quoted)
    } else if let Some(at) = rest.find('"') {
        // string "abc", as TOML writes it too
        let written = rest[at..].to_owned();
        Box::new(move |v| v == written)
    } else if rest == "sequence" {
        Box::new(|v| v.starts_with('['))
    } else if rest == "map" {
        Box::new(|v| v.starts_with('{'))
    } else {
        return None;
    };
    let mut lines = text.lines().skip(line.saturating_sub(1));
    if !lines.next()?.trim_start().starts_with('[') {
        return None;
    }
    lines
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter_map(|l| l.split_once('='))
        .find(|(_, v)| matches(v.trim()))
        .map(|(k, _)| k.trim().to_owned())
}

fn quoted_after(message: &str, marker: &str) -> Option<String> {
    let start = message.find(marker)? + marker.len();
    let end = message[start..].find('`')?;
    Some(message[start..start + end].to_owned())
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// Finds the line of a dotted key such as `stores[2].source.port` by walking the document's
/// spans; 0 when the key is not written in the file.
pub(super) fn line_of_key(text: &str, key: &str) -> usize {
    let Ok(doc) = text.parse::<toml_edit::ImDocument<String>>() else {
        return 0;
    };
    let mut item: &toml_edit::Item = doc.as_item();
    let mut best = 0;
    for part in key.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let Some(next) = item.get(name) else {
            break;
        };
        item = next;
        if let Some(i) = index {
            match item.get(i) {
                Some(elem) => item = elem,
                None => break,
            }
        }
        let span = match item {
            toml_edit::Item::Value(v) => v.span(),
            toml_edit::Item::Table(t) => t.span(),
            toml_edit::Item::ArrayOfTables(a) => a.span(),
            toml_edit::Item::None => None,
        };
        if let Some(span) = span {
            best = line_col(text, span.start).0;
        }
        // A key's own line: look the key up in its parent table for a tighter span.
    }
    best
}
