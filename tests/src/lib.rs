//! Helpers for the end-to-end tests: start `chatpay`, serve a host page, drive Chromium.
