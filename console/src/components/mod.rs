//! The console's frame and building blocks.
//!
//! - [`app`]: the root: who is signed in, which page is open.
//! - [`shell`]: the frame around pages: sidebar with sites, top bar, site tabs.
//! - [`field`]: labelled inputs that show their error underneath.

pub mod app;
pub mod field;
pub mod shell;
