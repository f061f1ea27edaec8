//! RPC requests (packet type 0x03): procedure and typed parameters, as `sp_executesql` receives them.

use super::types::{read_type_info, read_value, ParamError, Reader};
use crate::stellar::sql::value::{SqlType, Value};

/// sp_executesql's well-known procedure id.
pub(crate) const SP_EXECUTESQL: u16 = 10;

/// The procedure an RPC calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProcRef {
    Id(u16),
    Name(String),
}

impl ProcRef {
    /// Whether this is sp_executesql (by id or by name, with or without `sys.`/`dbo.`).
    pub fn is_executesql(&self) -> bool {
        match self {
            ProcRef::Id(id) => *id == SP_EXECUTESQL,
            ProcRef::Name(n) => {
                let n = n
                    .trim_matches(|c| c == '[' || c == ']')
                    .to_ascii_lowercase();
                let last = n
                    .rsplit('.')
                    .next()
                    .unwrap_or(&n)
                    .trim_matches(|c| c == '[' || c == ']')
                    .to_owned();
                last == "sp_executesql"
            }
        }
    }

    /// The procedure's name for messages.
    pub fn name(&self) -> String {
        match self {
            ProcRef::Id(10) => "sp_executesql".to_owned(),
            ProcRef::Id(11) => "sp_prepare".to_owned(),
            ProcRef::Id(12) => "sp_execute".to_owned(),
            ProcRef::Id(13) => "sp_prepexec".to_owned(),
            ProcRef::Id(15) => "sp_unprepare".to_owned(),
            ProcRef::Id(n) => format!("sp_cursor ({n})"),
            ProcRef::Name(n) => n.clone(),
        }
    }
}

/// A parameter of an RPC.
#[derive(Debug, Clone)]
pub(crate) struct RpcParam {
    /// Name as sent (may be empty for positional parameters).
    pub name: String,
    pub ty: SqlType,
    pub value: Value<'static>,
}

/// A parsed RPC request.
#[derive(Debug)]
pub(crate) struct RpcRequest {
    pub proc: ProcRef,
    pub params: Vec<RpcParam>,
}

/// Skips ALL_HEADERS (mandatory in TDS 7.2+ batches and RPCs).
pub(crate) fn skip_all_headers(r: &mut Reader<'_>) -> std::io::Result<()> {
    let len = r.u32()? as usize;
    if len < 4 || len - 4 > r.remaining() {
        return Err(super::types::bad(format!(
            "malformed ALL_HEADERS (length {len})"
        )));
    }
    r.skip(len - 4)
}

/// Parses the first RPC of a request.
pub(crate) fn parse(data: &[u8]) -> Result<RpcRequest, ParamError> {
    let mut r = Reader::new(data);
    skip_all_headers(&mut r)?;
    let name_len = r.u16()?;
    let proc = if name_len == 0xFFFF {
        ProcRef::Id(r.u16()?)
    } else {
        ProcRef::Name(r.utf16(usize::from(name_len))?)
    };
    let _options = r.u16()?;
    let mut params = Vec::new();
    while r.remaining() > 0 {
        // 0x80 / 0xFF / 0xFE separate batched RPCs: only the first is executed.
        if matches!(r.peek(), Some(0x80 | 0xFF | 0xFE)) {
            break;
        }
        let name = r.b_varchar()?;
        let _status = r.u8()?;
        let t = read_type_info(&mut r)?;
        let value = read_value(&mut r, &t)?;
        params.push(RpcParam {
            name,
            ty: t.ty,
            value,
        });
    }
    Ok(RpcRequest { proc, params })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stellar::protocol::types::{put_type_info, put_value};

    fn nvarchar_param(buf: &mut Vec<u8>, name: &str, s: &str) {
        crate::stellar::protocol::tokens::put_b_varchar(buf, name);
        buf.push(0);
        buf.push(0xE7);
        buf.extend_from_slice(&8000u16.to_le_bytes());
        buf.extend_from_slice(&[0; 5]);
        let units: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
        buf.extend_from_slice(&(units.len() as u16).to_le_bytes());
        buf.extend_from_slice(&units);
    }

    #[test]
    fn parses_sp_executesql_with_typed_parameters() {
        let mut b = Vec::new();
        b.extend_from_slice(&22u32.to_le_bytes());
        b.extend_from_slice(&[18, 0, 0, 0, 2, 0]);
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&[0xFF, 0xFF, 10, 0, 0, 0]);
        nvarchar_param(&mut b, "stmt", "SELECT @P1");
        nvarchar_param(&mut b, "params", "@P1 int");
        crate::stellar::protocol::tokens::put_b_varchar(&mut b, "@P1");
        b.push(0);
        put_type_info(&mut b, SqlType::Int);
        put_value(&mut b, SqlType::Int, Value::Int(42)).unwrap();
        let req = parse(&b).map_err(|_| ()).unwrap();
        assert!(req.proc.is_executesql());
        assert_eq!(req.params.len(), 3);
        assert_eq!(req.params[0].value, Value::Str("SELECT @P1".into()));
        assert_eq!(req.params[2].name, "@P1");
        assert_eq!(req.params[2].value, Value::Int(42));
    }
}
