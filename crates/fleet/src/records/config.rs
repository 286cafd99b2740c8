//! Flower's `ConfigRecord`: what the ServerApp tells a node for this round (`server-round`,
//! learning rate, local epochs...). Values keep the type Flower sent them with.

use crate::proto;
use crate::proto::config_record_value::Value;

/// One config value, as Flower's `ConfigRecordValue` types it.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    Double(f64),
    Int(i64),
    Uint(u64),
    Bool(bool),
    Str(String),
    Bytes(Vec<u8>),
    DoubleList(Vec<f64>),
    IntList(Vec<i64>),
    UintList(Vec<u64>),
    BoolList(Vec<bool>),
    StrList(Vec<String>),
    BytesList(Vec<Vec<u8>>),
}

/// The config of one message: ordered `(key, value)` pairs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    items: Vec<(String, ConfigValue)>,
}

impl Config {
    /// The value under `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&ConfigValue> {
        self.items.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A number under `key`, whichever numeric type Flower used for it.
    #[must_use]
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            ConfigValue::Double(v) => Some(*v),
            ConfigValue::Int(v) => Some(*v as f64),
            ConfigValue::Uint(v) => Some(*v as f64),
            _ => None,
        }
    }

    /// An integer under `key` (Python `int`s arrive as sint64, large ones as uint64).
    #[must_use]
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            ConfigValue::Int(v) => Some(*v),
            ConfigValue::Uint(v) => i64::try_from(*v).ok(),
            _ => None,
        }
    }

    /// A string under `key`.
    #[must_use]
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            ConfigValue::Str(v) => Some(v),
            _ => None,
        }
    }

    /// `(key, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ConfigValue)> {
        self.items.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Adds or replaces `key` (later records of a message override earlier ones).
    pub fn insert(&mut self, key: impl Into<String>, value: ConfigValue) {
        let key = key.into();
        match self.items.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.items.push((key, value)),
        }
    }

    /// Decodes a `ConfigRecord` body; items without a value are skipped.
    pub(crate) fn extend_from_proto(&mut self, record: proto::ConfigRecord) {
        for item in record.items {
            let Some(value) = item.value.and_then(|v| v.value) else {
                continue;
            };
            let value = match value {
                Value::Double(v) => ConfigValue::Double(v),
                Value::Sint64(v) => ConfigValue::Int(v),
                Value::Uint64(v) => ConfigValue::Uint(v),
                Value::Bool(v) => ConfigValue::Bool(v),
                Value::String(v) => ConfigValue::Str(v),
                Value::Bytes(v) => ConfigValue::Bytes(v),
                Value::DoubleList(l) => ConfigValue::DoubleList(l.vals),
                Value::SintList(l) => ConfigValue::IntList(l.vals),
                Value::UintList(l) => ConfigValue::UintList(l.vals),
                Value::BoolList(l) => ConfigValue::BoolList(l.vals),
                Value::StringList(l) => ConfigValue::StrList(l.vals),
                Value::BytesList(l) => ConfigValue::BytesList(l.vals),
            };
            self.insert(item.key, value);
        }
    }
}
