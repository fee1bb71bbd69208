//! Talking to the world outside the component tree: the relay socket and localStorage.

pub mod socket;
pub mod storage;
