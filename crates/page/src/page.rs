//! The page itself: one HTML document with its CSS and JavaScript inline, served as is — no
//! build step, no external requests, so it works on a device with no internet and from a
//! `file://`-less kiosk browser alike. It listens on `/events` and draws what arrives.

pub(crate) const PAGE: &str = include_str!("page.html");
