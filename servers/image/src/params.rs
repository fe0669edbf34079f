//! Number arguments as clients send them. Any JSON number deserializes
//! (so `-1` for a size or `1e15` for a quality is never a protocol error
//! nor a wrap-around), and the tool checks it against the bounds its schema
//! documents (`minimum`/`maximum`) before any work, answering a tool error
//! that names the argument, the bounds and the value.

use std::borrow::Cow;
use std::fmt;

use mcp_servers_core::error::{ToolError, ToolResult};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// An integer argument (schema `"type": "integer"`), not yet checked.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Int(pub f64);

/// A number argument (schema `"type": "number"`), not yet checked.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Float(pub f64);

/// The value as sent: "1000000000000000", "-1", "2.5".
fn shown(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e21 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

impl Int {
    /// The value if it is a whole number in `min..=max`; else a tool error
    /// naming `name`, the bounds and the value.
    pub fn check(self, name: &str, min: i64, max: i64) -> ToolResult<i64> {
        let v = self.0;
        if v.is_finite() && v.fract() == 0.0 && v >= min as f64 && v <= max as f64 {
            Ok(v as i64)
        } else {
            Err(ToolError::new(format!(
                "{name} must be a whole number from {min} to {max}, not {}",
                shown(v)
            )))
        }
    }

    /// [`Int::check`] for a `u32` argument.
    pub fn check_u32(self, name: &str, min: u32, max: u32) -> ToolResult<u32> {
        self.check(name, i64::from(min), i64::from(max))
            .map(|v| v as u32)
    }
}

impl From<u32> for Int {
    fn from(value: u32) -> Self {
        Self(f64::from(value))
    }
}

impl Float {
    /// The value if it lies above `min` (or at it, when `min_inclusive`) and
    /// at most `max`; else a tool error naming `name`, the bounds and the value.
    pub fn check(self, name: &str, min: f64, min_inclusive: bool, max: f64) -> ToolResult<f64> {
        let v = self.0;
        let above = if min_inclusive { v >= min } else { v > min };
        if v.is_finite() && above && v <= max {
            Ok(v)
        } else {
            let low = if min_inclusive { "from" } else { "above" };
            Err(ToolError::new(format!(
                "{name} must be a number {low} {} and at most {}, not {}",
                shown(min),
                shown(max),
                shown(v)
            )))
        }
    }
}

impl From<f64> for Float {
    fn from(value: f64) -> Self {
        Self(value)
    }
}

struct NumberVisitor;

impl Visitor<'_> for NumberVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
}

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumberVisitor).map(Int)
    }
}

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumberVisitor).map(Float)
    }
}

impl Serialize for Int {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.fract() == 0.0 && self.0.abs() < 9.0e15 {
            s.serialize_i64(self.0 as i64)
        } else {
            s.serialize_f64(self.0)
        }
    }
}

impl Serialize for Float {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

impl JsonSchema for Int {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Int".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "integer"})
    }
}

impl JsonSchema for Float {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Float".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "number"})
    }
}

/// Checks an optional JPEG quality (1-100, default 85).
pub fn quality(value: Option<Int>) -> ToolResult<u8> {
    match value {
        Some(q) => q.check("quality", 1, 100).map(|q| q as u8),
        None => Ok(crate::encode::DEFAULT_QUALITY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HOSTILE: [f64; 8] = [
        0.0,
        1.0,
        -1.0,
        2147483648.0,
        9007199254740992.0,
        9223372036854775808.0,
        1e15,
        1.5,
    ];

    #[test]
    fn any_json_number_deserializes_and_is_checked_after() {
        for v in [
            json!(0),
            json!(-1),
            json!(2147483648u64),
            json!(9007199254740992u64),
            json!(9223372036854775808u64),
            json!(1e15),
            json!(-1e300),
        ] {
            let n: Int = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(n.0, v.as_f64().unwrap());
        }
        assert!(serde_json::from_value::<Int>(json!("7")).is_err());
        for v in HOSTILE {
            let ok = Int(v).check("quality", 1, 100);
            assert_eq!(ok.is_ok(), v == 1.0, "{v}");
            if let Err(e) = ok {
                assert!(
                    e.message()
                        .starts_with("quality must be a whole number from 1 to 100, not "),
                    "{e}"
                );
            }
        }
        let err = Int(1e15).check("x", 0, 9).unwrap_err().to_string();
        assert!(err.ends_with("not 1000000000000000"), "{err}");
        let err = Int(9223372036854775808.0)
            .check("x", 0, 9)
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("not 9223372036854775808"), "{err}");
    }

    #[test]
    fn floats_check_open_and_closed_bounds() {
        assert!(Float(0.0).check("sigma", 0.0, false, 250.0).is_err());
        assert_eq!(
            Float(250.0).check("sigma", 0.0, false, 250.0).unwrap(),
            250.0
        );
        let err = Float(1e15)
            .check("sigma", 0.0, false, 250.0)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "sigma must be a number above 0 and at most 250, not 1000000000000000"
        );
        assert!(Float(-100.0).check("value", -100.0, true, 100.0).is_ok());
        assert!(Float(f64::NAN).check("value", -100.0, true, 100.0).is_err());
    }

    #[test]
    fn quality_defaults_and_bounds() {
        assert_eq!(quality(None).unwrap(), 85);
        assert_eq!(quality(Some(Int(100.0))).unwrap(), 100);
        assert!(quality(Some(Int(0.0))).is_err());
        assert!(quality(Some(Int(101.0))).is_err());
    }
}
