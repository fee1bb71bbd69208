//! The wasm entry point Trunk builds: mount the widget where the loader asked.

fn main() {
    chatpay_widget::start();
}
