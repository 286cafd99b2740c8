mod barlow;
mod byol;
mod coding_rate;
mod emp;
mod loss;
mod margin;
mod moco;
mod simclr;
mod vicreg;

pub use barlow::BarlowTwins;
pub use byol::Byol;
pub use emp::Emp;
pub use loss::{Loss, LossValue};
pub use margin::Margin;
pub use moco::MocoQueue;
pub use simclr::NtXent;
pub use vicreg::VicReg;
