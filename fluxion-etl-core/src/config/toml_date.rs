//! Dates written either as TOML dates (`2025-12-25`) or as strings (`"2025-12-25"`).

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serializer};

fn parse<E: serde::de::Error>(value: toml::Value) -> Result<NaiveDate, E> {
    let text = match value {
        toml::Value::String(s) => s,
        toml::Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => dt.to_string(),
        other => {
            return Err(E::custom(format!(
                "expected a date such as \"2025-12-25\", found `{other}`"
            )))
        }
    };
    NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|e| {
        E::custom(format!(
            "expected a date such as \"2025-12-25\", found `{text}`: {e}"
        ))
    })
}

pub fn serialize<S: Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&d.format("%Y-%m-%d"))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    parse(toml::Value::deserialize(d)?)
}

pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        super::parse(toml::Value::deserialize(d)?).map(Some)
    }
}

pub mod vec {
    use super::*;
    use serde::ser::SerializeSeq;

    pub fn serialize<S: Serializer>(v: &[NaiveDate], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for d in v {
            seq.serialize_element(&d.format("%Y-%m-%d").to_string())?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<NaiveDate>, D::Error> {
        Vec::<toml::Value>::deserialize(d)?
            .into_iter()
            .map(super::parse)
            .collect()
    }
}
