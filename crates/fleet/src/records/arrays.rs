//! Named `f32` arrays: Flower's `ArrayRecord` of `Array`s, decoded from their `.npy` chunks.
//!
//! Order is kept (an `ArrayRecord` is an ordered dict, and its id depends on the order), and
//! a name appears once.

use crate::error::{FleetError, Result};

/// One C-order `f32` array.
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl NdArray {
    /// An array of `shape` holding `data` in C order; the element count must match.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        let count = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if count != Some(data.len()) {
            return Err(FleetError::UnsupportedArray {
                name: String::new(),
                reason: format!("shape {shape:?} does not hold {} values", data.len()),
            });
        }
        Ok(Self { shape, data })
    }

    /// The dimensions.
    #[must_use]
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The values in C order.
    #[must_use]
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The values, to change in place (the shape stays).
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// `(shape, data)`.
    #[must_use]
    pub fn into_parts(self) -> (Vec<usize>, Vec<f32>) {
        (self.shape, self.data)
    }
}

/// Named arrays in insertion order: one `ArrayRecord`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Arrays {
    items: Vec<(String, NdArray)>,
}

impl Arrays {
    /// No arrays.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `array` under `name`, replacing (in place) an array of the same name.
    pub fn insert(&mut self, name: impl Into<String>, array: NdArray) {
        let name = name.into();
        match self.items.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = array,
            None => self.items.push((name, array)),
        }
    }

    /// Builder form of [`Arrays::insert`].
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, array: NdArray) -> Self {
        self.insert(name, array);
        self
    }

    /// The array called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&NdArray> {
        self.items.iter().find(|(n, _)| n == name).map(|(_, a)| a)
    }

    /// The array called `name`, to change in place.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut NdArray> {
        self.items
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a)
    }

    /// `(name, array)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &NdArray)> {
        self.items.iter().map(|(n, a)| (n.as_str(), a))
    }

    /// `(name, array)` pairs in order, arrays mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut NdArray)> {
        self.items.iter_mut().map(|(n, a)| (n.as_str(), a))
    }

    /// How many arrays.
    #[must_use]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
