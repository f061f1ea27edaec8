//! The Stellar simulator's bytes on the wire, read by a hand-written TDS client: the PRELOGIN answer,
//! LOGINACK's big-endian version, the packet-size ENVCHANGE, packets split at the negotiated size with
//! EOM on the last one only, and ATTENTION acknowledged with DONE + attention bit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use fluxion_etl_sim::stellar::{StellarFault, StellarSim, StellarSimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn small() -> StellarSimConfig {
    StellarSimConfig {
        articles: 500,
        sales_lines_per_day: (300, 400),
        ..StellarSimConfig::default()
    }
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// Sends one message as a single packet.
async fn send(tcp: &mut TcpStream, ty: u8, payload: &[u8]) {
    let len = (payload.len() + 8) as u16;
    let mut p = vec![ty, 0x01, (len >> 8) as u8, len as u8, 0, 0, 1, 0];
    p.extend_from_slice(payload);
    tcp.write_all(&p).await.unwrap();
}

/// Reads one response message: (packet lengths, statuses, reassembled payload).
async fn receive(tcp: &mut TcpStream) -> (Vec<usize>, Vec<u8>, Vec<u8>) {
    let (mut lens, mut statuses, mut payload) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        let mut h = [0u8; 8];
        tokio::time::timeout(Duration::from_secs(10), tcp.read_exact(&mut h))
            .await
            .expect("a packet")
            .unwrap();
        assert_eq!(h[0], 0x04, "server packets are tabular results");
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        let mut body = vec![0u8; len - 8];
        tcp.read_exact(&mut body).await.unwrap();
        lens.push(len);
        statuses.push(h[1]);
        payload.extend_from_slice(&body);
        if h[1] & 0x01 != 0 {
            return (lens, statuses, payload);
        }
    }
}

fn prelogin() -> Vec<u8> {
    // VERSION (6 bytes) and ENCRYPTION (ENCRYPT_NOT_SUP), then the terminator.
    let mut p = vec![0x00, 0, 11, 0, 6, 0x01, 0, 17, 0, 1, 0xFF];
    p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x02]);
    p
}

fn login7(user: &str, password: &str, packet_size: u32) -> Vec<u8> {
    let fields = [
        "wire-test",
        user,
        password,
        "wire",
        "127.0.0.1",
        "",
        "raw",
        "",
        "VAD10",
    ];
    let mut fixed = vec![0u8; 94];
    fixed[4..8].copy_from_slice(&0x7400_0004u32.to_le_bytes());
    fixed[8..12].copy_from_slice(&packet_size.to_le_bytes());
    let mut var = Vec::new();
    for (f, at) in fields.iter().zip([36, 40, 44, 48, 52, 56, 60, 64, 68]) {
        let mut bytes = utf16(f);
        if at == 44 {
            // Obfuscation: swap nibbles, then XOR 0xA5.
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

fn batch(sql: &str) -> Vec<u8> {
    // ALL_HEADERS with the transaction descriptor header, then the text.
    let mut p = Vec::new();
    p.extend_from_slice(&22u32.to_le_bytes());
    p.extend_from_slice(&18u32.to_le_bytes());
    p.extend_from_slice(&2u16.to_le_bytes());
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(&utf16(sql));
    p
}

/// Position of a byte pattern.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn logged_in(sim: &StellarSim, packet_size: u32) -> (TcpStream, Vec<u8>) {
    let mut tcp = TcpStream::connect(sim.addr()).await.unwrap();
    send(&mut tcp, 0x12, &prelogin()).await;
    let (_, statuses, pre) = receive(&mut tcp).await;
    assert_eq!(statuses, vec![0x01]);
    // ENCRYPTION option: its offset is in the option table.
    let mut i = 0;
    let mut encryption = None;
    while pre[i] != 0xFF {
        let offset = usize::from(u16::from_be_bytes([pre[i + 1], pre[i + 2]]));
        if pre[i] == 0x01 {
            encryption = Some(pre[offset]);
        }
        i += 5;
    }
    assert_eq!(encryption, Some(0x02), "ENCRYPT_NOT_SUP");
    send(&mut tcp, 0x10, &login7("fluxion", "fluxion", packet_size)).await;
    let (_, _, login) = receive(&mut tcp).await;
    (tcp, login)
}

#[tokio::test]
async fn stellar_wire_login_and_packet_splitting() {
    let sim = StellarSim::start(small(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (mut tcp, login) = logged_in(&sim, 512).await;
    // LOGINACK: token AD, length, interface 1, TDS 7.4 big-endian.
    let version = find(&login, &[0x01, 0x74, 0x00, 0x00, 0x04]).expect("interface 1 and TDS 7.4");
    assert_eq!(login[version - 3], 0xAD, "inside LOGINACK");
    // ENVCHANGE packet size: new "512", old "4096".
    let mut env = vec![0xE3];
    let body: Vec<u8> = [vec![4u8, 3], utf16("512"), vec![4], utf16("4096")].concat();
    env.extend_from_slice(&(body.len() as u16).to_le_bytes());
    env.extend_from_slice(&body);
    assert!(find(&login, &env).is_some(), "packet size ENVCHANGE");
    assert_eq!(login[login.len() - 13], 0xFD, "ends with DONE");

    send(
        &mut tcp,
        0x01,
        &batch(
            "SELECT c_CodNasa, c_Codigo, c_Descripcion, nu_Intercambio FROM VAD10.dbo.MA_CODIGOS",
        ),
    )
    .await;
    let (lens, statuses, payload) = receive(&mut tcp).await;
    assert!(lens.len() > 10, "{} packets", lens.len());
    assert!(
        lens[..lens.len() - 1].iter().all(|&l| l == 512),
        "full packets until the last"
    );
    assert!(statuses[..statuses.len() - 1].iter().all(|&s| s == 0x00));
    assert_eq!(statuses.last(), Some(&0x01), "EOM on the last packet only");
    assert_eq!(payload[0], 0x81, "COLMETADATA first");
    // DONE: status COUNT (0x10), curcmd SELECT (0xC1), row count.
    let done = &payload[payload.len() - 13..];
    assert_eq!(done[0], 0xFD);
    assert_eq!(u16::from_le_bytes([done[1], done[2]]), 0x10);
    assert_eq!(u16::from_le_bytes([done[3], done[4]]), 0xC1);
    let count = u64::from_le_bytes(done[5..13].try_into().unwrap());
    assert_eq!(count as usize, sim.tables().codes().len());
    // One ROW token (D1) per row: count rows by walking the NVARCHAR/INTN values.
    let rows = count_rows(&payload, 4);
    assert_eq!(rows, sim.tables().codes().len());
}

/// Walks COLMETADATA + ROWs of a result whose columns are NVARCHAR(n) or INTN(4).
fn count_rows(payload: &[u8], columns: usize) -> usize {
    assert_eq!(payload[0], 0x81);
    let mut i = 3;
    let mut kinds = Vec::new();
    for _ in 0..columns {
        i += 6; // user type, flags
        let ty = payload[i];
        kinds.push(ty);
        i += match ty {
            0xE7 => 1 + 2 + 5,
            0x26 => 2,
            other => panic!("unexpected type {other:#x}"),
        };
        let name_len = usize::from(payload[i]);
        i += 1 + name_len * 2;
    }
    let mut rows = 0;
    while payload[i] == 0xD1 {
        i += 1;
        for k in &kinds {
            match k {
                0xE7 => {
                    let n = u16::from_le_bytes([payload[i], payload[i + 1]]);
                    i += 2 + if n == 0xFFFF { 0 } else { usize::from(n) };
                }
                _ => i += 1 + usize::from(payload[i]),
            }
        }
        rows += 1;
    }
    assert_eq!(payload[i], 0xFD);
    rows
}

#[tokio::test]
async fn stellar_wire_attention_is_acknowledged_with_done_attn() {
    let sim = StellarSim::start(small(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    sim.set_faults(vec![StellarFault::NeverAnswer {
        depot: None,
        times: Some(1),
    }]);
    let (mut tcp, _) = logged_in(&sim, 4096).await;
    send(
        &mut tcp,
        0x01,
        &batch("SELECT * FROM VAD10.dbo.MA_PRODUCTOS"),
    )
    .await;
    let mut probe = [0u8; 1];
    let silent = tokio::time::timeout(Duration::from_millis(300), tcp.read(&mut probe)).await;
    assert!(silent.is_err(), "no answer before ATTENTION");
    send(&mut tcp, 0x06, &[]).await;
    let (_, _, payload) = receive(&mut tcp).await;
    let done = &payload[payload.len() - 13..];
    assert_eq!(done[0], 0xFD);
    assert_eq!(
        u16::from_le_bytes([done[1], done[2]]) & 0x20,
        0x20,
        "DONE_ATTN"
    );
    // The connection goes on.
    send(&mut tcp, 0x01, &batch("SELECT 1")).await;
    let (_, statuses, payload) = receive(&mut tcp).await;
    assert_eq!(statuses, vec![0x01]);
    assert_eq!(payload[0], 0x81);
}
