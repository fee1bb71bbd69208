//! The wasm entry point Trunk builds.

fn main() {
    chatpay_console::start();
}
