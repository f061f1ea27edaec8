//! LOGIN7: the client's credentials and session options.

use std::io;

use super::types::{bad, utf16_to_string};

/// The fields of a LOGIN7 record the simulator uses.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Login7 {
    /// TDS version the client asks for (as sent, little-endian u32).
    pub tds_version: u32,
    /// Packet size the client asks for (0: the server's default).
    pub packet_size: u32,
    pub hostname: String,
    pub user: String,
    /// The password, de-obfuscated.
    pub password: String,
    pub app: String,
    pub server: String,
    pub library: String,
    pub language: String,
    pub database: String,
    /// Integrated (Windows) authentication was requested: the simulator only knows SQL logins.
    pub integrated: bool,
}

/// Undoes LOGIN7's password obfuscation: per byte, XOR 0xA5 then swap the nibbles.
pub(crate) fn deobfuscate(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().map(|b| (b ^ 0xA5).rotate_left(4)).collect()
}

/// Parses a LOGIN7 message.
pub(crate) fn parse(data: &[u8]) -> io::Result<Login7> {
    if data.len() < 94 {
        return Err(bad(format!(
            "LOGIN7 of {} bytes is shorter than its fixed part",
            data.len()
        )));
    }
    let u16_at = |i: usize| u16::from_le_bytes([data[i], data[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
    let text = |at: usize| -> io::Result<Vec<u8>> {
        let offset = usize::from(u16_at(at));
        let chars = usize::from(u16_at(at + 2));
        data.get(offset..offset + chars * 2)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| bad("LOGIN7 field outside the record"))
    };
    let s = |at: usize| -> io::Result<String> { Ok(utf16_to_string(&text(at)?)) };
    Ok(Login7 {
        tds_version: u32_at(4),
        packet_size: u32_at(8),
        integrated: data[25] & 0x80 != 0,
        hostname: s(36)?,
        user: s(40)?,
        password: utf16_to_string(&deobfuscate(&text(44)?)),
        app: s(48)?,
        server: s(52)?,
        library: s(60)?,
        language: s(64)?,
        database: s(68)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a LOGIN7 the way clients do (obfuscating the password).
    fn login(user: &str, password: &str, database: &str) -> Vec<u8> {
        let fields = [
            "host", user, password, "app", "srv", "", "lib", "", database,
        ];
        let mut fixed = vec![0u8; 94];
        fixed[4..8].copy_from_slice(&0x7400_0004u32.to_le_bytes());
        fixed[8..12].copy_from_slice(&4096u32.to_le_bytes());
        let mut var = Vec::new();
        let slots = [36, 40, 44, 48, 52, 56, 60, 64, 68];
        for (f, at) in fields.iter().zip(slots) {
            let mut bytes: Vec<u8> = f.encode_utf16().flat_map(u16::to_le_bytes).collect();
            if at == 44 {
                bytes = bytes.iter().map(|b| b.rotate_left(4) ^ 0xA5).collect();
            }
            let offset = (94 + var.len()) as u16;
            fixed[at..at + 2].copy_from_slice(&offset.to_le_bytes());
            fixed[at + 2..at + 4].copy_from_slice(&(f.encode_utf16().count() as u16).to_le_bytes());
            var.extend_from_slice(&bytes);
        }
        fixed.extend_from_slice(&var);
        let len = fixed.len() as u32;
        fixed[0..4].copy_from_slice(&len.to_le_bytes());
        fixed
    }

    #[test]
    fn password_is_deobfuscated() {
        let l = parse(&login("fluxion", "Contraseña1", "VAD20")).unwrap();
        assert_eq!(l.user, "fluxion");
        assert_eq!(l.password, "Contraseña1");
        assert_eq!(l.database, "VAD20");
        assert_eq!(l.packet_size, 4096);
        assert!(!l.integrated);
    }

    #[test]
    fn truncated_login_is_an_error() {
        assert!(parse(&[0u8; 40]).is_err());
    }
}
