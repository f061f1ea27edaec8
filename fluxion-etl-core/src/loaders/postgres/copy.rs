//! COPY encoding of rows, and the spill that keeps a unit's encoded rows until it commits.
//!
//! Both of PostgreSQL's COPY formats are implemented, because which one is faster depends on
//! where the time goes: text costs the server a parse of every numeric and timestamp, binary
//! costs the client the conversion to base-10000 digits and twice the bytes on the wire. The
//! `pg_load` bench measures both; [`CopyFormat::default`] is the one it found faster.

use std::io::SeekFrom;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use rust_decimal::Decimal;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::loaders::rows::Value;

/// The COPY format rows are sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    /// `FORMAT text`: tab-separated, `\N` for NULL.
    Text,
    /// `FORMAT binary`: each value in its type's binary send format.
    Binary,
}

impl Default for CopyFormat {
    /// Binary: in the `pg_load` bench it loaded faster than text (the server skips parsing
    /// numerics and timestamps, which outweighs the larger stream).
    fn default() -> Self {
        CopyFormat::Binary
    }
}

impl CopyFormat {
    /// The `WITH (...)` clause of a `COPY … FROM STDIN`.
    pub(super) fn clause(self) -> &'static str {
        match self {
            CopyFormat::Text => "(FORMAT text)",
            CopyFormat::Binary => "(FORMAT binary)",
        }
    }

    /// Bytes that open a COPY stream.
    pub(super) fn header(self) -> &'static [u8] {
        match self {
            CopyFormat::Text => b"",
            // Signature, flags (no OIDs), header extension length.
            CopyFormat::Binary => b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0",
        }
    }

    /// Bytes that close a COPY stream.
    pub(super) fn trailer(self) -> &'static [u8] {
        match self {
            CopyFormat::Text => b"",
            CopyFormat::Binary => b"\xff\xff",
        }
    }
}

/// Appends one row: the record's values, then `row_hash` and `execution_id`.
pub(super) fn encode_row(
    format: CopyFormat,
    out: &mut Vec<u8>,
    values: &[Value<'_>],
    row_hash: i64,
    execution_id: Option<i64>,
) {
    match format {
        CopyFormat::Text => {
            for v in values {
                text_value(out, v);
                out.push(b'\t');
            }
            push_int(out, row_hash);
            out.push(b'\t');
            match execution_id {
                Some(id) => push_int(out, id),
                None => out.extend_from_slice(b"\\N"),
            }
            out.push(b'\n');
        }
        CopyFormat::Binary => {
            let fields = (values.len() + 2) as i16;
            out.extend_from_slice(&fields.to_be_bytes());
            for v in values {
                binary_value(out, v);
            }
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&row_hash.to_be_bytes());
            match execution_id {
                Some(id) => {
                    out.extend_from_slice(&8i32.to_be_bytes());
                    out.extend_from_slice(&id.to_be_bytes());
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
    }
}

fn text_value(out: &mut Vec<u8>, v: &Value<'_>) {
    match v {
        Value::Text(Some(s)) => escape_text(out, s),
        Value::Decimal(Some(d)) => push_display(out, d),
        Value::Int(Some(i)) => push_int(out, *i),
        Value::Bool(Some(b)) => out.push(if *b { b't' } else { b'f' }),
        Value::Timestamp(t) => push_timestamp(out, *t),
        Value::Date(d) => push_date(out, *d),
        Value::Text(None) | Value::Decimal(None) | Value::Int(None) | Value::Bool(None) => {
            out.extend_from_slice(b"\\N")
        }
    }
}

fn escape_text(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if !bytes
        .iter()
        .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'))
    {
        out.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

fn push_display(out: &mut Vec<u8>, d: &Decimal) {
    use std::io::Write;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{d}");
}

fn push_int(out: &mut Vec<u8>, i: i64) {
    let mut buf = [0u8; 20];
    let mut n = i.unsigned_abs();
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[pos..]);
}

fn push_digits(out: &mut Vec<u8>, value: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut n = value;
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

fn push_date(out: &mut Vec<u8>, d: NaiveDate) {
    let year = d.year();
    if !(1..=9999).contains(&year) {
        // Outside what four digits hold; let chrono spell it (PostgreSQL reads ISO years).
        use std::io::Write;
        let _ = write!(out, "{}", d.format("%Y-%m-%d"));
        return;
    }
    push_digits(out, year as u32, 4);
    out.push(b'-');
    push_digits(out, d.month(), 2);
    out.push(b'-');
    push_digits(out, d.day(), 2);
}

fn push_timestamp(out: &mut Vec<u8>, t: DateTime<Utc>) {
    let n = t.naive_utc();
    push_date(out, n.date());
    out.push(b' ');
    push_digits(out, n.hour(), 2);
    out.push(b':');
    push_digits(out, n.minute(), 2);
    out.push(b':');
    push_digits(out, n.second(), 2);
    out.push(b'.');
    // Leap seconds (nanosecond ≥ 1e9) cannot occur in instants built from UTC timestamps.
    push_digits(out, (n.nanosecond() / 1_000).min(999_999), 6);
    out.extend_from_slice(b"+00");
}

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days between 0001-01-01 (CE day 1) and 2000-01-01.
const PG_EPOCH_CE_DAYS: i32 = 730_120;

fn binary_value(out: &mut Vec<u8>, v: &Value<'_>) {
    match v {
        Value::Text(Some(s)) => {
            out.extend_from_slice(&(s.len() as i32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Decimal(Some(d)) => binary_numeric(out, d),
        Value::Int(Some(i)) => {
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&i.to_be_bytes());
        }
        Value::Bool(Some(b)) => {
            out.extend_from_slice(&1i32.to_be_bytes());
            out.push(u8::from(*b));
        }
        Value::Timestamp(t) => {
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&(t.timestamp_micros() - PG_EPOCH_MICROS).to_be_bytes());
        }
        Value::Date(d) => {
            out.extend_from_slice(&4i32.to_be_bytes());
            out.extend_from_slice(&(d.num_days_from_ce() - PG_EPOCH_CE_DAYS).to_be_bytes());
        }
        Value::Text(None) | Value::Decimal(None) | Value::Int(None) | Value::Bool(None) => {
            out.extend_from_slice(&(-1i32).to_be_bytes())
        }
    }
}

/// `numeric`'s binary form: digit count, weight of the first digit (in powers of 10,000), sign,
/// display scale, then base-10,000 digits, most significant first.
fn binary_numeric(out: &mut Vec<u8>, d: &Decimal) {
    let scale = d.scale();
    let mut mantissa = d.mantissa().unsigned_abs();
    // Align the decimal point on a base-10,000 digit boundary.
    let pad = (4 - scale % 4) % 4;
    mantissa *= 10u128.pow(pad);
    let fraction_groups = ((scale + pad) / 4) as i32;
    let mut groups = [0u16; 34];
    let mut n = 0;
    // u128 division is a library call; nearly every amount fits 64 bits, where dividing by a
    // constant is a multiplication.
    while mantissa > u128::from(u64::MAX) {
        groups[n] = (mantissa % 10_000) as u16;
        mantissa /= 10_000;
        n += 1;
    }
    let mut small = mantissa as u64;
    while small > 0 {
        groups[n] = (small % 10_000) as u16;
        small /= 10_000;
        n += 1;
    }
    // groups[0..n] is least significant first; drop trailing zero groups (PostgreSQL would).
    let mut low = 0;
    while low < n && groups[low] == 0 {
        low += 1;
    }
    let digits = &groups[low..n];
    let weight = if digits.is_empty() {
        0
    } else {
        n as i32 - fraction_groups - 1
    };
    let sign: u16 = if d.is_sign_negative() && !digits.is_empty() {
        0x4000
    } else {
        0
    };
    let len = 8 + 2 * digits.len();
    out.extend_from_slice(&(len as i32).to_be_bytes());
    out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
    out.extend_from_slice(&(weight as i16).to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&(scale as i16).to_be_bytes());
    for g in digits.iter().rev() {
        out.extend_from_slice(&g.to_be_bytes());
    }
}

/// A unit's encoded rows, kept until the unit commits so that a merge can be retried on a new
/// connection (the staging table dies with the old one). Rows stay in memory up to
/// [`Spill::MEMORY_LIMIT`], then go to an unlinked temporary file, so memory stays flat however
/// large the window.
#[derive(Debug, Default)]
pub(super) struct Spill {
    memory: Vec<u8>,
    file: Option<tokio::fs::File>,
    file_len: u64,
    cursor: u64,
}

impl Spill {
    /// Bytes kept in memory before spilling to disk.
    pub(super) const MEMORY_LIMIT: usize = 32 << 20;

    /// Appends encoded rows.
    pub(super) async fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.file.is_none() && self.memory.len() + bytes.len() <= Self::MEMORY_LIMIT {
            self.memory.extend_from_slice(bytes);
            return Ok(());
        }
        if self.file.is_none() {
            let mut file = tokio::fs::File::from_std(anonymous_file()?);
            file.write_all(&self.memory).await?;
            self.file_len = self.memory.len() as u64;
            self.memory = Vec::new();
            self.file = Some(file);
        }
        if let Some(file) = self.file.as_mut() {
            file.write_all(bytes).await?;
            self.file_len += bytes.len() as u64;
        }
        Ok(())
    }

    /// The rows, when they all fit in memory.
    pub(super) fn in_memory(&self) -> Option<&[u8]> {
        self.file.is_none().then_some(self.memory.as_slice())
    }

    /// Reads the spill file from the start: call [`Spill::next_chunk`] until it returns `None`.
    pub(super) async fn rewind(&mut self) -> std::io::Result<()> {
        self.cursor = 0;
        if let Some(file) = self.file.as_mut() {
            file.flush().await?;
            file.seek(SeekFrom::Start(0)).await?;
        }
        Ok(())
    }

    /// The next chunk of the spill file, or `None` at its end (where appends continue).
    pub(super) async fn next_chunk(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let Some(file) = self.file.as_mut() else {
            return Ok(None);
        };
        let left = self.file_len - self.cursor;
        if left == 0 {
            file.seek(SeekFrom::End(0)).await?;
            return Ok(None);
        }
        let take = left.min(4 << 20) as usize;
        let mut chunk = vec![0u8; take];
        file.read_exact(&mut chunk).await?;
        self.cursor += take as u64;
        Ok(Some(chunk))
    }
}

/// A read-write file in the temporary directory that is already unlinked: it disappears with
/// the process whatever happens.
fn anonymous_file() -> std::io::Result<std::fs::File> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    for _ in 0..16 {
        let name = format!(
            ".fluxion-spill-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let path = dir.join(name);
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => {
                let _ = std::fs::remove_file(&path);
                return Ok(file);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(
        "cannot create a spill file in the temporary directory",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn numeric(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        binary_numeric(&mut out, &Decimal::from_str(s).unwrap());
        out
    }

    fn words(bytes: &[u8]) -> Vec<i16> {
        bytes[4..]
            .chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn numerics_in_base_10000() {
        // ndigits, weight, sign, dscale, digits…
        assert_eq!(words(&numeric("0")), vec![0, 0, 0, 0]);
        assert_eq!(words(&numeric("1.235")), vec![2, 0, 0, 3, 1, 2350]);
        assert_eq!(words(&numeric("-3")), vec![1, 0, 0x4000, 0, 3]);
        assert_eq!(words(&numeric("236.46")), vec![2, 0, 0, 2, 236, 4600]);
        assert_eq!(
            words(&numeric("12345.6789")),
            vec![3, 1, 0, 4, 1, 2345, 6789]
        );
        assert_eq!(words(&numeric("0.000001")), vec![1, -2, 0, 6, 100]);
        assert_eq!(words(&numeric("100000000")), vec![1, 2, 0, 0, 1]);
        assert_eq!(words(&numeric("0.50")), vec![1, -1, 0, 2, 5000]);
        // Mantissas beyond 64 bits.
        assert_eq!(
            words(&numeric("79228162514264337593543950335")),
            vec![8, 7, 0, 0, 7, 9228, 1625, 1426, 4337, 5935, 4395, 335]
        );
        assert_eq!(
            words(&numeric("-184467440737.09551616")),
            vec![5, 2, 0x4000, 8, 1844, 6744, 737, 955, 1616]
        );
    }

    #[test]
    fn text_values_are_escaped_and_typed() {
        let t = DateTime::parse_from_rfc3339("2025-11-17T16:19:56.5Z")
            .unwrap()
            .with_timezone(&Utc);
        let values = [
            Value::Text(Some("a\tb\\c\nd")),
            Value::Text(None),
            Value::Decimal(Some(Decimal::from_str("-0.974138").unwrap())),
            Value::Int(Some(-42)),
            Value::Bool(Some(true)),
            Value::Timestamp(t),
            Value::Date(NaiveDate::from_ymd_opt(2025, 1, 7).unwrap()),
        ];
        let mut out = Vec::new();
        encode_row(CopyFormat::Text, &mut out, &values, i64::MIN, None);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a\\tb\\\\c\\nd\t\\N\t-0.974138\t-42\tt\t2025-11-17 16:19:56.500000+00\t2025-01-07\t\
             -9223372036854775808\t\\N\n"
        );
    }

    async fn read_all(spill: &mut Spill) -> Vec<u8> {
        if let Some(bytes) = spill.in_memory() {
            return bytes.to_vec();
        }
        let mut all = Vec::new();
        spill.rewind().await.unwrap();
        while let Some(chunk) = spill.next_chunk().await.unwrap() {
            all.extend_from_slice(&chunk);
        }
        all
    }

    #[tokio::test]
    async fn spill_replays_from_memory_and_from_disk() {
        let mut spill = Spill::default();
        spill.append(&[1, 2, 3]).await.unwrap();
        assert_eq!(read_all(&mut spill).await, vec![1, 2, 3]);
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..40 {
            spill.append(&chunk).await.unwrap();
        }
        assert!(spill.in_memory().is_none(), "40 MiB went to disk");
        let all = read_all(&mut spill).await;
        assert_eq!(all.len(), (40 << 20) + 3);
        assert_eq!(&all[..4], &[1, 2, 3, 7]);
        spill.append(&[9]).await.unwrap();
        let again = read_all(&mut spill).await;
        assert_eq!(
            again.len(),
            (40 << 20) + 4,
            "appends after a replay go to the end"
        );
        assert_eq!(again.last(), Some(&9));
    }
}
