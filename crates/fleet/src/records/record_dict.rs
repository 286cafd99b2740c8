//! Flower's `RecordDict`: a message's content, named records of three kinds.

use super::arrays::Arrays;
use super::config::Config;
use super::metrics::Metrics;

/// One record of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Arrays(Arrays),
    Config(Config),
    Metrics(Metrics),
}

/// A message's content: named records in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordDict {
    items: Vec<(String, Record)>,
}

impl RecordDict {
    /// Adds or replaces `name`.
    pub fn insert(&mut self, name: impl Into<String>, record: Record) {
        let name = name.into();
        match self.items.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = record,
            None => self.items.push((name, record)),
        }
    }

    /// Builder form of [`RecordDict::insert`].
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, record: Record) -> Self {
        self.insert(name, record);
        self
    }

    /// `(name, record)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Record)> {
        self.items.iter().map(|(n, r)| (n.as_str(), r))
    }

    /// The arrays a strategy sent: the `ArrayRecord` called `arrays` (FedAvg's
    /// `arrayrecord_key`), else the first one.
    #[must_use]
    pub fn arrays(&self) -> Option<&Arrays> {
        let named = self.items.iter().find_map(|(n, r)| match r {
            Record::Arrays(a) if n == "arrays" => Some(a),
            _ => None,
        });
        named.or_else(|| {
            self.items.iter().find_map(|(_, r)| match r {
                Record::Arrays(a) => Some(a),
                _ => None,
            })
        })
    }

    /// Every `ConfigRecord` merged in order (FedAvg sends one, called `config`).
    #[must_use]
    pub fn config(&self) -> Config {
        let mut merged = Config::default();
        for (_, record) in &self.items {
            if let Record::Config(c) = record {
                for (k, v) in c.iter() {
                    merged.insert(k, v.clone());
                }
            }
        }
        merged
    }
}
