//! Talking to the world outside the component tree: the relay socket, the wire encoding,
//! and localStorage.

pub mod socket;
pub mod storage;
pub mod wire;
