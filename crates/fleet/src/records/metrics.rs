//! Flower's `MetricRecord`: what a node reports back. FedAvg weights every node's arrays by
//! the `num-examples` metric, so a train reply must carry it.

use crate::proto;
use crate::proto::metric_record_value::Value;

/// The metric FedAvg weights by (flwr's default `weighted_by_key`).
pub const NUM_EXAMPLES: &str = "num-examples";

/// One metric value, as Flower's `MetricRecordValue` types it.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    Double(f64),
    Int(i64),
    Uint(u64),
    DoubleList(Vec<f64>),
    IntList(Vec<i64>),
    UintList(Vec<u64>),
}

impl From<f64> for MetricValue {
    fn from(v: f64) -> Self {
        Self::Double(v)
    }
}

impl From<f32> for MetricValue {
    fn from(v: f32) -> Self {
        Self::Double(f64::from(v))
    }
}

impl From<i64> for MetricValue {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<u64> for MetricValue {
    /// Like Python: an int that fits in `i64` travels as sint64, a larger one as uint64.
    fn from(v: u64) -> Self {
        i64::try_from(v).map_or(Self::Uint(v), Self::Int)
    }
}

impl From<usize> for MetricValue {
    fn from(v: usize) -> Self {
        Self::from(v as u64)
    }
}

/// Metrics of one reply: ordered `(key, value)` pairs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    items: Vec<(String, MetricValue)>,
}

impl Metrics {
    /// No metrics.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Metrics holding `num-examples = n`, the weight FedAvg needs.
    #[must_use]
    pub fn with_num_examples(n: u64) -> Self {
        Self::new().with(NUM_EXAMPLES, n)
    }

    /// Adds or replaces `key`.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<MetricValue>) {
        let key = key.into();
        let value = value.into();
        match self.items.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.items.push((key, value)),
        }
    }

    /// Builder form of [`Metrics::insert`].
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<MetricValue>) -> Self {
        self.insert(key, value);
        self
    }

    /// The value under `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&MetricValue> {
        self.items.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// `(key, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &MetricValue)> {
        self.items.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The `MetricRecord` body Python would write for these metrics.
    pub(crate) fn to_proto(&self) -> proto::MetricRecord {
        let items = self
            .items
            .iter()
            .map(|(key, value)| {
                let value = match value {
                    MetricValue::Double(v) => Value::Double(*v),
                    MetricValue::Int(v) => Value::Sint64(*v),
                    MetricValue::Uint(v) => Value::Uint64(*v),
                    MetricValue::DoubleList(v) => {
                        Value::DoubleList(proto::DoubleList { vals: v.clone() })
                    }
                    MetricValue::IntList(v) => Value::SintList(proto::SintList { vals: v.clone() }),
                    MetricValue::UintList(v) => {
                        Value::UintList(proto::UintList { vals: v.clone() })
                    }
                };
                proto::metric_record::Item {
                    key: key.clone(),
                    value: Some(proto::MetricRecordValue { value: Some(value) }),
                }
            })
            .collect();
        proto::MetricRecord { items }
    }

    /// Decodes a `MetricRecord` body (metrics a ServerApp may send in an evaluate message).
    pub(crate) fn extend_from_proto(&mut self, record: proto::MetricRecord) {
        for item in record.items {
            let Some(value) = item.value.and_then(|v| v.value) else {
                continue;
            };
            let value = match value {
                Value::Double(v) => MetricValue::Double(v),
                Value::Sint64(v) => MetricValue::Int(v),
                Value::Uint64(v) => MetricValue::Uint(v),
                Value::DoubleList(l) => MetricValue::DoubleList(l.vals),
                Value::SintList(l) => MetricValue::IntList(l.vals),
                Value::UintList(l) => MetricValue::UintList(l.vals),
            };
            self.insert(item.key, value);
        }
    }
}
