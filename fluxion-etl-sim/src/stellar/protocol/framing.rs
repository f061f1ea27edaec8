//! TDS packets: reading client messages (reassembled until the EOM bit) and writing server responses
//! split at the negotiated packet size.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Packet types.
pub(crate) const SQL_BATCH: u8 = 0x01;
pub(crate) const RPC: u8 = 0x03;
pub(crate) const TABULAR_RESULT: u8 = 0x04;
pub(crate) const ATTENTION: u8 = 0x06;
pub(crate) const TRANSACTION_MANAGER: u8 = 0x0E;
pub(crate) const LOGIN7: u8 = 0x10;
pub(crate) const PRELOGIN: u8 = 0x12;

/// Status bits.
pub(crate) const STATUS_EOM: u8 = 0x01;
pub(crate) const STATUS_RESET_CONNECTION: u8 = 0x08;

/// The largest client message accepted (a batch of SQL text is far smaller).
const MAX_MESSAGE: usize = 64 << 20;

/// A client message: its packet type, the status of its first packet and the reassembled payload.
#[derive(Debug)]
pub(crate) struct Message {
    pub ty: u8,
    pub status: u8,
    pub data: Vec<u8>,
}

/// Reads one message (all its packets). `Ok(None)` when the client closed the connection between
/// messages.
pub(crate) async fn read_message<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Option<Message>> {
    let mut msg: Option<Message> = None;
    loop {
        let mut header = [0u8; 8];
        match r.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && msg.is_none() => return Ok(None),
            Err(e) => return Err(e),
        }
        let ty = header[0];
        let status = header[1];
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        if len < 8 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("TDS packet length {len} is shorter than its header"),
            ));
        }
        let m = msg.get_or_insert_with(|| Message {
            ty,
            status,
            data: Vec::new(),
        });
        if m.ty != ty {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "TDS packet of type {ty:#04x} inside a message of type {:#04x}",
                    m.ty
                ),
            ));
        }
        let start = m.data.len();
        if start + len - 8 > MAX_MESSAGE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TDS message too large",
            ));
        }
        m.data.resize(start + len - 8, 0);
        r.read_exact(&mut m.data[start..]).await?;
        if status & STATUS_EOM != 0 {
            return Ok(msg);
        }
    }
}

/// Builds a response message directly in packet form: tokens are appended to the body and, whenever
/// the current packet overflows, a header is inserted at the packet boundary (the few bytes of the
/// token that straddles it are moved by eight). Complete packets can be sent while the rest of the
/// response is still being encoded; only the last packet carries EOM.
pub(crate) struct PacketWriter {
    buf: Vec<u8>,
    packet_size: usize,
    /// Offset of the current (last, incomplete) packet's header.
    cur: usize,
    packet_id: u8,
    spid: u16,
}

impl PacketWriter {
    /// A writer for packets of `packet_size` bytes (header included).
    pub fn new(packet_size: usize, spid: u16) -> PacketWriter {
        let mut w = PacketWriter {
            buf: Vec::with_capacity(80 * 1024),
            packet_size: packet_size.clamp(512, 32_767),
            cur: 0,
            packet_id: 1,
            spid,
        };
        w.begin();
        w
    }

    /// Changes the packet size (after login).
    pub fn set_packet_size(&mut self, size: usize) {
        self.packet_size = size.clamp(512, 32_767);
    }

    /// The packet size in use.
    pub fn packet_size(&self) -> usize {
        self.packet_size
    }

    /// Starts a new message.
    pub fn begin(&mut self) {
        self.buf.clear();
        self.cur = 0;
        self.packet_id = 1;
        self.buf.extend_from_slice(&[0u8; 8]);
    }

    /// The body: append token bytes, then call [`settle`](Self::settle).
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// A position to [`truncate`](Self::truncate) back to (only before the next `settle`).
    pub fn mark(&self) -> usize {
        self.buf.len()
    }

    /// Drops bytes appended since `mark`.
    pub fn truncate(&mut self, mark: usize) {
        self.buf.truncate(mark.max(self.cur + 8));
    }

    /// Splits the body into packets where it overflowed the current one.
    pub fn settle(&mut self) {
        while self.buf.len() - self.cur > self.packet_size {
            let boundary = self.cur + self.packet_size;
            self.write_header(self.cur, self.packet_size, 0x00);
            let overflow = self.buf.len() - boundary;
            self.buf.extend_from_slice(&[0u8; 8]);
            self.buf
                .copy_within(boundary..boundary + overflow, boundary + 8);
            self.cur = boundary;
        }
    }

    /// Bytes of complete packets ready to send.
    pub fn complete_len(&self) -> usize {
        self.cur
    }

    /// The complete packets, to be written to the socket before [`consume_complete`](Self::consume_complete).
    pub fn complete(&self) -> &[u8] {
        &self.buf[..self.cur]
    }

    /// Forgets the complete packets (after they were sent), keeping the current one.
    pub fn consume_complete(&mut self) {
        if self.cur > 0 {
            let len = self.buf.len();
            self.buf.copy_within(self.cur..len, 0);
            self.buf.truncate(len - self.cur);
            self.cur = 0;
        }
    }

    /// Sends the first complete packet only (for slow-row faults): returns its bytes' length.
    pub fn first_packet_len(&self) -> usize {
        if self.cur >= self.packet_size {
            self.packet_size
        } else {
            self.cur
        }
    }

    /// Forgets the first `n` bytes of complete packets (n a multiple of the packet size).
    pub fn consume_first(&mut self, n: usize) {
        let n = n.min(self.cur);
        let len = self.buf.len();
        self.buf.copy_within(n..len, 0);
        self.buf.truncate(len - n);
        self.cur -= n;
    }

    /// Closes the message: the last packet gets its length and EOM. Returns all remaining bytes.
    pub fn finish(&mut self) -> &[u8] {
        let len = self.buf.len() - self.cur;
        self.write_header(self.cur, len, 0x01);
        &self.buf
    }

    fn write_header(&mut self, at: usize, len: usize, status: u8) {
        let id = self.packet_id;
        self.packet_id = self.packet_id.wrapping_add(1);
        let len = len as u16;
        self.buf[at..at + 8].copy_from_slice(&[
            TABULAR_RESULT,
            status,
            (len >> 8) as u8,
            len as u8,
            (self.spid >> 8) as u8,
            self.spid as u8,
            id,
            0,
        ]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reassembles what a client sees: payloads of each packet, checking headers.
    fn split(bytes: &[u8], packet_size: usize) -> (Vec<u8>, usize) {
        let mut payload = Vec::new();
        let mut i = 0;
        let mut packets = 0;
        while i < bytes.len() {
            let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
            assert!(len <= packet_size);
            let last = i + len == bytes.len();
            assert_eq!(
                bytes[i + 1],
                if last { 0x01 } else { 0x00 },
                "EOM on the last packet only"
            );
            if !last {
                assert_eq!(len, packet_size);
            }
            payload.extend_from_slice(&bytes[i + 8..i + len]);
            i += len;
            packets += 1;
        }
        (payload, packets)
    }

    #[test]
    fn tokens_straddle_packets_and_only_the_last_has_eom() {
        let mut w = PacketWriter::new(512, 51);
        let mut expected = Vec::new();
        for i in 0..300u32 {
            let row: Vec<u8> = (0..37).map(|k| (i as u8).wrapping_add(k)).collect();
            w.buf().extend_from_slice(&row);
            expected.extend_from_slice(&row);
            w.settle();
        }
        let mut sent = w.complete().to_vec();
        w.consume_complete();
        sent.extend_from_slice(w.finish());
        let (payload, packets) = split(&sent, 512);
        assert_eq!(payload, expected);
        assert_eq!(packets, expected.len().div_ceil(504));
    }

    #[test]
    fn sending_in_pieces_gives_the_same_bytes() {
        let mut w = PacketWriter::new(600, 7);
        let mut sent = Vec::new();
        let mut expected = Vec::new();
        for i in 0..1000u32 {
            let row = [i as u8; 13];
            w.buf().extend_from_slice(&row);
            expected.extend_from_slice(&row);
            w.settle();
            if i % 97 == 0 {
                sent.extend_from_slice(w.complete());
                w.consume_complete();
            }
        }
        sent.extend_from_slice(w.finish());
        let (payload, _) = split(&sent, 600);
        assert_eq!(payload, expected);
    }
}
