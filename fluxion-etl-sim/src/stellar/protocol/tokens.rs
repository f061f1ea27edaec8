//! Encoders for the response tokens the simulator sends.

/// Token types.
pub(crate) const COLMETADATA: u8 = 0x81;
pub(crate) const ROW: u8 = 0xD1;
pub(crate) const DONE: u8 = 0xFD;
pub(crate) const DONEPROC: u8 = 0xFE;
pub(crate) const DONEINPROC: u8 = 0xFF;
pub(crate) const ERROR: u8 = 0xAA;
pub(crate) const INFO: u8 = 0xAB;
pub(crate) const ENVCHANGE: u8 = 0xE3;
pub(crate) const LOGINACK: u8 = 0xAD;
pub(crate) const RETURNSTATUS: u8 = 0x79;

/// DONE status bits.
pub(crate) const DONE_FINAL: u16 = 0x0000;
pub(crate) const DONE_MORE: u16 = 0x0001;
pub(crate) const DONE_ERROR: u16 = 0x0002;
pub(crate) const DONE_COUNT: u16 = 0x0010;
pub(crate) const DONE_ATTN: u16 = 0x0020;

/// DONE current-command values.
pub(crate) const CMD_SELECT: u16 = 0x00C1;
pub(crate) const CMD_NONE: u16 = 0x0000;
pub(crate) const CMD_EXECUTE: u16 = 0x00E0;

/// ENVCHANGE types.
pub(crate) const ENV_DATABASE: u8 = 1;
pub(crate) const ENV_LANGUAGE: u8 = 2;
pub(crate) const ENV_PACKET_SIZE: u8 = 4;
pub(crate) const ENV_COLLATION: u8 = 7;

/// SQL_Latin1_General_CP1_CI_AS: LCID 0x0409, case- and width-insensitive, sort order 52.
pub(crate) const COLLATION: [u8; 5] = [0x09, 0x04, 0xD0, 0x00, 0x34];

fn utf16_units(s: &str, max: usize) -> Vec<u16> {
    s.encode_utf16().take(max).collect()
}

/// B_VARCHAR: a character count (one byte) then UTF-16LE.
pub(crate) fn put_b_varchar(buf: &mut Vec<u8>, s: &str) {
    let units = utf16_units(s, 255);
    buf.push(units.len() as u8);
    for u in units {
        buf.extend_from_slice(&u.to_le_bytes());
    }
}

/// US_VARCHAR: a character count (two bytes) then UTF-16LE.
pub(crate) fn put_us_varchar(buf: &mut Vec<u8>, s: &str) {
    let units = utf16_units(s, 65_535);
    buf.extend_from_slice(&(units.len() as u16).to_le_bytes());
    for u in units {
        buf.extend_from_slice(&u.to_le_bytes());
    }
}

/// DONE, DONEPROC or DONEINPROC (TDS 7.2+: 64-bit row count).
pub(crate) fn put_done(buf: &mut Vec<u8>, token: u8, status: u16, curcmd: u16, rows: u64) {
    buf.push(token);
    buf.extend_from_slice(&status.to_le_bytes());
    buf.extend_from_slice(&curcmd.to_le_bytes());
    buf.extend_from_slice(&rows.to_le_bytes());
}

/// ERROR or INFO.
#[allow(clippy::too_many_arguments)]
pub(crate) fn put_message(
    buf: &mut Vec<u8>,
    token: u8,
    number: i32,
    state: u8,
    class: u8,
    message: &str,
    server: &str,
    procedure: &str,
    line: u32,
) {
    let mut body = Vec::with_capacity(64 + message.len() * 2);
    body.extend_from_slice(&number.to_le_bytes());
    body.push(state);
    body.push(class);
    put_us_varchar(&mut body, message);
    put_b_varchar(&mut body, server);
    put_b_varchar(&mut body, procedure);
    body.extend_from_slice(&line.to_le_bytes());
    buf.push(token);
    buf.extend_from_slice(&(body.len() as u16).to_le_bytes());
    buf.extend_from_slice(&body);
}

/// ENVCHANGE with B_VARCHAR new and old values (database, language, packet size).
pub(crate) fn put_env_string(buf: &mut Vec<u8>, ty: u8, new: &str, old: &str) {
    let mut body = vec![ty];
    put_b_varchar(&mut body, new);
    put_b_varchar(&mut body, old);
    buf.push(ENVCHANGE);
    buf.extend_from_slice(&(body.len() as u16).to_le_bytes());
    buf.extend_from_slice(&body);
}

/// ENVCHANGE of the SQL collation (B_VARBYTE values).
pub(crate) fn put_env_collation(buf: &mut Vec<u8>, new: &[u8]) {
    let mut body = vec![ENV_COLLATION, new.len() as u8];
    body.extend_from_slice(new);
    body.push(0);
    buf.push(ENVCHANGE);
    buf.extend_from_slice(&(body.len() as u16).to_le_bytes());
    buf.extend_from_slice(&body);
}

/// LOGINACK: interface 1 (T-SQL), the TDS version big-endian, program name and version.
pub(crate) fn put_loginack(
    buf: &mut Vec<u8>,
    tds_version: [u8; 4],
    prog_name: &str,
    prog_version: [u8; 4],
) {
    let mut body = vec![1u8];
    body.extend_from_slice(&tds_version);
    put_b_varchar(&mut body, prog_name);
    body.extend_from_slice(&prog_version);
    buf.push(LOGINACK);
    buf.extend_from_slice(&(body.len() as u16).to_le_bytes());
    buf.extend_from_slice(&body);
}

/// RETURNSTATUS of a procedure.
pub(crate) fn put_return_status(buf: &mut Vec<u8>, status: i32) {
    buf.push(RETURNSTATUS);
    buf.extend_from_slice(&status.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loginack_carries_the_version_big_endian() {
        let mut b = Vec::new();
        put_loginack(&mut b, [0x74, 0x00, 0x00, 0x04], "X", [15, 0, 7, 0xD0]);
        assert_eq!(&b[..1], &[LOGINACK]);
        assert_eq!(&b[4..8], &[0x74, 0x00, 0x00, 0x04]);
        assert_eq!(u16::from_le_bytes([b[1], b[2]]) as usize, b.len() - 3);
    }

    #[test]
    fn envchange_packet_size_has_both_values() {
        let mut b = Vec::new();
        put_env_string(&mut b, ENV_PACKET_SIZE, "4096", "4096");
        assert_eq!(b[3], ENV_PACKET_SIZE);
        assert_eq!(b[4], 4);
        assert_eq!(b[13], 4);
    }
}
