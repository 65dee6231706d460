//! RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! The audit trail hashes the canonical bytes of each event, so that anyone can recompute a hash
//! in any language with any RFC 8785 implementation. The rules, in short: no whitespace; object
//! members sorted by the UTF-16 code units of their names; strings escaped minimally; numbers
//! written as ECMAScript's `Number.prototype.toString` writes an IEEE 754 double.
//!
//! Input must be I-JSON (RFC 7493): duplicate member names and integers that a double cannot
//! hold exactly are refused rather than silently changed, because a hash over silently altered
//! data would no longer attest to what the caller sent.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

#[cfg(test)]
mod tests;

/// The largest integer magnitude an IEEE 754 double holds exactly (2^53).
const MAX_SAFE_INTEGER: u64 = 1 << 53;

/// Why a JSON text or value could not be canonicalized.
#[derive(Debug, thiserror::Error)]
pub enum JcsError {
    /// The input is not JSON.
    #[error("input is not valid JSON")]
    Parse(#[source] serde_json::Error),
    /// An object names the same member twice, which I-JSON forbids.
    #[error("duplicate member name `{name}`")]
    DuplicateMember {
        /// The repeated member name.
        name: String,
    },
    /// An integer outside ±2^53 cannot be represented exactly as a double; send it as a string.
    #[error("integer `{number}` is outside ±2^53; encode it as a string")]
    UnsafeInteger {
        /// The integer as written.
        number: String,
    },
    /// NaN and the infinities have no JSON form.
    #[error("number `{value}` is not finite")]
    NonFinite {
        /// The offending value.
        value: f64,
    },
}

/// Parses `json` strictly (I-JSON: no duplicate member names) and returns its canonical bytes.
///
/// # Errors
///
/// [`JcsError::Parse`] for text that is not JSON, [`JcsError::DuplicateMember`] for repeated
/// member names, [`JcsError::UnsafeInteger`] for integers beyond ±2^53.
pub fn canonicalize_str(json: &str) -> Result<Vec<u8>, JcsError> {
    let value = parse_strict(json)?;
    canonicalize(&value)
}

/// Parses JSON text into a [`Value`], refusing duplicate member names.
///
/// # Errors
///
/// [`JcsError::Parse`] or [`JcsError::DuplicateMember`].
pub fn parse_strict(json: &str) -> Result<Value, JcsError> {
    let mut de = serde_json::Deserializer::from_str(json);
    let mut duplicate = None;
    let value = StrictValue { duplicate: &mut duplicate }.deserialize(&mut de);
    if let Some(name) = duplicate {
        return Err(JcsError::DuplicateMember { name });
    }
    let value = value.map_err(JcsError::Parse)?;
    de.end().map_err(JcsError::Parse)?;
    Ok(value)
}

/// Returns the RFC 8785 canonical bytes of `value`.
///
/// # Errors
///
/// [`JcsError::UnsafeInteger`] for integers beyond ±2^53, [`JcsError::NonFinite`] for numbers
/// that are not finite.
pub fn canonicalize(value: &Value) -> Result<Vec<u8>, JcsError> {
    let mut out = Vec::with_capacity(128);
    write_value(&mut out, value)?;
    Ok(out)
}

pub(crate) fn write_value(out: &mut Vec<u8>, value: &Value) -> Result<(), JcsError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(out, map)?,
    }
    Ok(())
}

fn write_object(out: &mut Vec<u8>, map: &Map<String, Value>) -> Result<(), JcsError> {
    // RFC 8785 §3.2.3: sort by the UTF-16 code units of the names, not by UTF-8 bytes; the two
    // orders differ for characters above U+FFFF against U+E000..U+FFFF.
    let mut members: Vec<(Vec<u16>, &String, &Value)> = map.iter().map(|(k, v)| (k.encode_utf16().collect(), k, v)).collect();
    members.sort_by(|a, b| a.0.cmp(&b.0));
    out.push(b'{');
    for (i, (_, name, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, name);
        out.push(b':');
        write_value(out, value)?;
    }
    out.push(b'}');
    Ok(())
}

pub(crate) fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0a => b"\\n",
            0x0c => b"\\f",
            0x0d => b"\\r",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

pub(crate) fn write_number(out: &mut Vec<u8>, n: &Number) -> Result<(), JcsError> {
    let value = if let Some(u) = n.as_u64() {
        if u > MAX_SAFE_INTEGER {
            return Err(JcsError::UnsafeInteger { number: n.to_string() });
        }
        u as f64
    } else if let Some(i) = n.as_i64() {
        if i.unsigned_abs() > MAX_SAFE_INTEGER {
            return Err(JcsError::UnsafeInteger { number: n.to_string() });
        }
        i as f64
    } else {
        n.as_f64().unwrap_or(f64::NAN)
    };
    push_number(out, value)
}

/// Writes a double as ECMAScript's `Number.prototype.toString` does (ECMA-262 §6.1.6.1.20),
/// which RFC 8785 §3.2.2.3 adopts: the shortest digits that round-trip, the even one on a tie,
/// laid out as ECMAScript does. The digits and layout are `ryu-js`'s, Boa's implementation of
/// exactly that algorithm (ADR 0022).
///
/// # Errors
///
/// [`JcsError::NonFinite`] for NaN and the infinities.
pub fn format_number(value: f64) -> Result<String, JcsError> {
    let mut out = Vec::with_capacity(24);
    push_number(&mut out, value)?;
    Ok(String::from_utf8(out).unwrap_or_default())
}

fn push_number(out: &mut Vec<u8>, value: f64) -> Result<(), JcsError> {
    if !value.is_finite() {
        return Err(JcsError::NonFinite { value });
    }
    if value == 0.0 {
        // Both zeros print as "0".
        out.push(b'0');
    } else {
        out.extend_from_slice(ryu_js::Buffer::new().format_finite(value).as_bytes());
    }
    Ok(())
}

/// A `serde` seed that builds a [`Value`] and records the first duplicate member name.
struct StrictValue<'a> {
    duplicate: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("number is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue { duplicate: &mut *self.duplicate })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let value = access.next_value_seed(StrictValue { duplicate: &mut *self.duplicate })?;
            if map.contains_key(&key) {
                *self.duplicate = Some(key.clone());
                return Err(de::Error::custom("duplicate member name"));
            }
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}
