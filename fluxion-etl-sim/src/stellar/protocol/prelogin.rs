//! PRELOGIN: the first exchange. The simulator speaks plain TCP, so it always answers
//! ENCRYPT_NOT_SUP (0x02).

use std::io;

use super::types::bad;

const VERSION: u8 = 0x00;
const ENCRYPTION: u8 = 0x01;
const INSTOPT: u8 = 0x02;
const THREADID: u8 = 0x03;
const MARS: u8 = 0x04;
const TERMINATOR: u8 = 0xFF;

/// ENCRYPTION values.
pub(crate) const ENCRYPT_NOT_SUP: u8 = 0x02;
pub(crate) const ENCRYPT_REQ: u8 = 0x03;

/// What the client sent.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ClientPrelogin {
    /// The client's ENCRYPTION option.
    pub encryption: Option<u8>,
}

/// Parses a client PRELOGIN message.
pub(crate) fn parse(data: &[u8]) -> io::Result<ClientPrelogin> {
    let mut out = ClientPrelogin::default();
    let mut i = 0;
    loop {
        let Some(&token) = data.get(i) else {
            return Err(bad("PRELOGIN without terminator"));
        };
        if token == TERMINATOR {
            return Ok(out);
        }
        let entry = data
            .get(i + 1..i + 5)
            .ok_or_else(|| bad("truncated PRELOGIN option"))?;
        let offset = usize::from(u16::from_be_bytes([entry[0], entry[1]]));
        let len = usize::from(u16::from_be_bytes([entry[2], entry[3]]));
        let value = data
            .get(offset..offset + len)
            .ok_or_else(|| bad("PRELOGIN option outside the message"))?;
        if token == ENCRYPTION {
            out.encryption = value.first().copied();
        }
        i += 5;
    }
}

/// The server's PRELOGIN answer: version, ENCRYPT_NOT_SUP, no instance, no thread id, no MARS.
pub(crate) fn response(version: [u8; 4], sub_build: u16) -> Vec<u8> {
    let options: [(u8, Vec<u8>); 5] = [
        (VERSION, {
            let mut v = version.to_vec();
            v.extend_from_slice(&sub_build.to_be_bytes());
            v
        }),
        (ENCRYPTION, vec![ENCRYPT_NOT_SUP]),
        (INSTOPT, vec![0x00]),
        (THREADID, Vec::new()),
        (MARS, vec![0x00]),
    ];
    let header_len = options.len() * 5 + 1;
    let mut head = Vec::with_capacity(header_len);
    let mut body = Vec::new();
    for (token, value) in &options {
        let offset = (header_len + body.len()) as u16;
        head.push(*token);
        head.extend_from_slice(&offset.to_be_bytes());
        head.extend_from_slice(&(value.len() as u16).to_be_bytes());
        body.extend_from_slice(value);
    }
    head.push(TERMINATOR);
    head.extend_from_slice(&body);
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_parses_back_with_encryption_not_supported() {
        let r = response([15, 0, 0x07, 0xD0], 0);
        let parsed = parse(&r).unwrap();
        assert_eq!(parsed.encryption, Some(ENCRYPT_NOT_SUP));
        assert_eq!(r[0], VERSION);
        assert_eq!(&r[26..30], &[15, 0, 0x07, 0xD0]);
    }
}
