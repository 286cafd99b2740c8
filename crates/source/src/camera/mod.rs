#[cfg(target_os = "linux")]
mod mapping;
mod mjpeg;
mod yuyv;

#[cfg(target_os = "linux")]
mod device;
#[cfg(target_os = "linux")]
mod setup;
#[cfg(target_os = "linux")]
mod v4l2;

#[cfg(not(target_os = "linux"))]
mod unsupported;

#[cfg(target_os = "linux")]
pub use device::Camera;
#[cfg(not(target_os = "linux"))]
pub use unsupported::Camera;

pub use mjpeg::decode_mjpeg;
pub use yuyv::yuyv_to_rgb;
