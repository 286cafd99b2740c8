mod barlow;
mod byol;
mod coding_rate;
mod emp;
mod margin;
mod moco;
mod objective;
mod simclr;
mod vicreg;

pub use barlow::BarlowTwins;
pub use byol::Byol;
pub use emp::Emp;
pub use margin::Margin;
pub use moco::MocoQueue;
pub use objective::{Loss, LossValue};
pub use simclr::NtXent;
pub use vicreg::VicReg;
