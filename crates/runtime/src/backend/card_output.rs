//! The card's output first. A graph may have several outputs — a classifier's logits beside
//! its pooled features, a DINO export's class token beside its patch tokens — and every caller
//! takes a session's first output as the embedding. The card names which one it is
//! (`[output] name`), so a session whose card names another output hands that one first and the
//! rest after it in graph order; its [`Session::outputs`] say so. Without this, a card naming a
//! model's second output passed every check and `embed` returned the first (a 4,096-wide
//! feature map where the card said 256).

use edge_ssl_core::{ModelCard, Tensor, TensorView};

use crate::{Result, Session, TensorInfo};

/// `session` with the card's output first (unchanged when it is first already, or when the
/// graph has no output of that name: a card is checked against the graph before loading).
pub(crate) fn card_output_first(session: Box<dyn Session>, card: &ModelCard) -> Box<dyn Session> {
    match session
        .outputs()
        .iter()
        .position(|o| o.name == card.output.name)
    {
        Some(index) if index > 0 => {
            let mut outputs = session.outputs().to_vec();
            let first = outputs.remove(index);
            outputs.insert(0, first);
            Box::new(CardOutputFirst {
                inner: session,
                index,
                outputs,
            })
        }
        _ => session,
    }
}

struct CardOutputFirst {
    inner: Box<dyn Session>,
    /// Where the card's output is among the inner session's outputs.
    index: usize,
    outputs: Vec<TensorInfo>,
}

impl Session for CardOutputFirst {
    fn inputs(&self) -> &[TensorInfo] {
        self.inner.inputs()
    }

    fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }

    fn run(&mut self, inputs: &[TensorView]) -> Result<Vec<Tensor>> {
        let mut outputs = self.inner.run(inputs)?;
        if self.index < outputs.len() {
            let first = outputs.remove(self.index);
            outputs.insert(0, first);
        }
        Ok(outputs)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn fallback_note(&self) -> Option<&str> {
        self.inner.fallback_note()
    }
}
