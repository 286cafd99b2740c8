mod classifier;
mod imprint;
mod kmeans;
mod knn;
mod label_propagation;
mod labeled;
mod semi_supervised;
mod softmax;

pub use classifier::{Head, HeadKind, HeadModel, Prediction};
pub use imprint::ImprintHead;
pub use kmeans::{Clustering, KMeansHead, KMeansOptions};
pub use knn::KnnHead;
pub use label_propagation::{PropagationOptions, propagate_labels};
pub use semi_supervised::{SemiSupervised, SemiSupervisedReport};
pub use softmax::{SoftmaxHead, SoftmaxOptions};

#[cfg(test)]
mod tests;
