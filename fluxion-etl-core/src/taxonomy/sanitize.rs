//! Removing credentials from text before it is stored, logged or served.
//!
//! Error messages pass through [`sanitize`] when an [`EtlError`](crate::EtlError) is built, so a
//! password in a connection string, a bearer token in a header dump or a `password=` pair in an
//! ODBC-style string never reaches `etl_executions`, a log line or an API response.

/// Replaces credentials in `text` with `***`.
///
/// Handles userinfo in URLs (`postgres://user:secret@host`), `key=value` and `key: value` pairs
/// whose key names a secret (password, pwd, token, secret, api_key, authorization), and bearer
/// tokens.
pub fn sanitize(text: &str) -> String {
    let step = redact_url_userinfo(text);
    let step = redact_pairs(&step);
    redact_bearer(&step)
}

const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "token",
    "secret",
    "api_key",
    "apikey",
    "api-key",
    "access_key",
    "authorization",
    "auth",
    "x-api-key",
    "sslpassword",
];

fn redact_url_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or whitespace.
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":***");
                    }
                    None => out.push_str("***"),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn redact_pairs(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        // Keys are ASCII; a byte inside a multi-byte character (Spanish messages: "sesión",
        // "MAÑONGO") never starts one, and slicing there would panic.
        if !text.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let at_word_start = i == 0 || !is_key_char(bytes[i - 1]);
        if at_word_start {
            if let Some(key) = SECRET_KEYS
                .iter()
                .find(|k| lower[i..].starts_with(**k) && !next_is_key_char(bytes, i + k.len()))
            {
                let mut j = i + key.len();
                // Optional quote after key (JSON: "password": "x").
                if j < bytes.len() && (bytes[j] == b'"' || bytes[j] == b'\'') {
                    j += 1;
                }
                while j < bytes.len() && bytes[j] == b' ' {
                    j += 1;
                }
                if j < bytes.len() && (bytes[j] == b'=' || bytes[j] == b':') {
                    j += 1;
                    while j < bytes.len() && bytes[j] == b' ' {
                        j += 1;
                    }
                    // Skip "Bearer " style schemes so the token itself is what we hide.
                    let mut value_start = j;
                    for scheme in ["bearer ", "basic "] {
                        if lower[j..].starts_with(scheme) {
                            value_start = j + scheme.len();
                            j = value_start;
                        }
                    }
                    let quote = (j < bytes.len() && (bytes[j] == b'"' || bytes[j] == b'\''))
                        .then(|| bytes[j]);
                    let mut k = if quote.is_some() { j + 1 } else { j };
                    while k < bytes.len() {
                        let b = bytes[k];
                        let stop = match quote {
                            Some(q) => b == q,
                            None => b == b';' || b == b'&' || b == b',' || b.is_ascii_whitespace(),
                        };
                        if stop {
                            break;
                        }
                        k += 1;
                    }
                    if k > value_start {
                        out.push_str(&text[copied..value_start]);
                        if let Some(q) = quote {
                            out.push(q as char);
                            out.push_str("***");
                        } else {
                            out.push_str("***");
                        }
                        copied = k;
                        i = k;
                        continue;
                    }
                }
            }
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn next_is_key_char(bytes: &[u8], i: usize) -> bool {
    i < bytes.len() && is_key_char(bytes[i])
}

fn redact_bearer(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(rel) = lower[search..].find("bearer ") {
        let start = search + rel + "bearer ".len();
        let end = text[start..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',')
            .map_or(text.len(), |e| start + e);
        if end > start && &text[start..end] != "***" {
            out.push_str(&text[copied..start]);
            out.push_str("***");
            copied = end;
        }
        search = end.max(start);
    }
    out.push_str(&text[copied..]);
    out
}

/// A writer that passes everything through [`sanitize`] on its way to `W`: the log sink of a
/// program that embeds the library, so that no credential reaches a terminal or a log file even
/// when a dependency logs a connection string.
///
/// Each `write` is sanitized on its own. `tracing-subscriber`'s fmt layer writes one whole event
/// per call, so a secret is never split across two writes there; a writer fed in arbitrary
/// pieces should be wrapped around a line buffer first.
///
/// ```
/// use std::io::Write;
/// use fluxion_etl_core::taxonomy::SanitizingWriter;
///
/// let mut out = SanitizingWriter::new(Vec::new());
/// out.write_all(b"connecting to postgres://etl:s3cret@db/chain\n").unwrap();
/// assert!(!String::from_utf8(out.into_inner()).unwrap().contains("s3cret"));
/// ```
///
/// With `tracing-subscriber`:
/// `tracing_subscriber::fmt().with_writer(|| SanitizingWriter::new(std::io::stderr())).init()`.
#[derive(Debug, Default)]
pub struct SanitizingWriter<W> {
    inner: W,
}

impl<W: std::io::Write> SanitizingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self { inner }
    }

    /// The wrapped writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: std::io::Write> std::io::Write for SanitizingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.inner.write_all(sanitize(&text).as_bytes())?;
        // The whole input was consumed, whatever the sanitized text's length.
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn url_passwords_are_hidden() {
        let s =
            sanitize("cannot connect to postgres://fluxion:s3cr3t@db.internal:5432/prod: refused");
        assert!(!s.contains("s3cr3t"), "{s}");
        assert!(
            s.contains("postgres://fluxion:***@db.internal:5432/prod"),
            "{s}"
        );
    }

    #[test]
    fn url_without_password_keeps_host() {
        let s = sanitize("error sending request for url (http://127.0.0.1:7002/ventas)");
        assert_eq!(
            s,
            "error sending request for url (http://127.0.0.1:7002/ventas)"
        );
    }

    /// Each text keeps what it should and loses its secret.
    #[track_caller]
    fn hides(text: &str, secrets: &[&str], kept: &[&str]) {
        let s = sanitize(text);
        for secret in secrets {
            assert!(!s.contains(secret), "{secret} in {s}");
        }
        for k in kept {
            assert!(s.contains(k), "{k} lost from {s}");
        }
    }

    #[test]
    fn connection_string_pairs_are_hidden() {
        hides(
            "Server=192.168.20.12,14348;Database=VAD10;UID=etl;PWD=Hunter2;Encrypt=yes",
            &["Hunter2"],
            &["UID=etl"],
        );
        hides("login with password=abc123 user=sa", &["abc123"], &[]);
        hides(r#"{"password": "qwerty", "user": "x"}"#, &["qwerty"], &[]);
    }

    #[test]
    fn tokens_are_hidden() {
        hides(
            "header Authorization: Bearer eyJhbGciOi.abc.def rejected",
            &["eyJhbGciOi"],
            &[],
        );
        hides("api_key=XYZ987&x=1", &["XYZ987"], &[]);
    }

    #[test]
    fn non_ascii_text_is_handled() {
        let t = "Error de inicio de sesión del usuario 'etl' en MAÑONGO — ñandú";
        assert_eq!(sanitize(t), t);
        hides(
            "sesión fallida: password=clave·secreta ñ token: añejo123 — fin",
            &["clave", "añejo123"],
            &["sesión fallida"],
        );
        hides("Authorization: Bearer ñtoken€ y más", &["ñtoken"], &[]);
    }

    #[test]
    fn ordinary_text_is_untouched() {
        let t = "HTTP 503 from KLK for SUC001 window [2025-11-17 00:00:00, 2025-11-18 00:00:00)";
        assert_eq!(sanitize(t), t);
        let t = "passing 3 records; tokenizer ok";
        assert_eq!(sanitize(t), t);
    }
}
