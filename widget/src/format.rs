//! Text for people: amounts in the visitor's locale, clock times, countdowns. Uses the
//! browser's `Intl` (no formatting code in the wasm) and writes digits by hand instead of
//! `format!`, which would pull Rust's formatting machinery into the download.

use chatpay_shared::money::{api_exponent_of, display_decimals_of};
use js_sys::{Array, Intl, Object};

use crate::js::set;
use wasm_bindgen::JsValue;

fn locales(locale: &str) -> Array {
    let a = Array::new();
    if !locale.is_empty() {
        a.push(&JsValue::from_str(locale));
    }
    a
}

/// `$49.99`, `¥500`, `KWD 5.120`, `ISK 5`: the amount in `currency` (minor units), in the
/// visitor's `locale` (empty: the browser's).
pub fn amount(minor: i64, currency: &str, locale: &str) -> String {
    let exp = api_exponent_of(currency);
    let shown = display_decimals_of(currency);
    let major = minor as f64 / 10f64.powi(i32::from(exp));
    let opts = Object::new();
    set(&opts, "style", &JsValue::from_str("currency"));
    set(
        &opts,
        "currency",
        &JsValue::from_str(&currency.to_ascii_uppercase()),
    );
    set(&opts, "minimumFractionDigits", &JsValue::from(shown));
    set(&opts, "maximumFractionDigits", &JsValue::from(shown));
    let nf = Intl::NumberFormat::new(&locales(locale), &opts);
    nf.format()
        .call1(&JsValue::UNDEFINED, &JsValue::from_f64(major))
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default()
}

/// `14:05` in the visitor's locale.
pub fn clock(at_ms: i64, locale: &str) -> String {
    let date = js_sys::Date::new(&JsValue::from_f64(at_ms as f64));
    let opts = Object::new();
    set(&opts, "hour", &JsValue::from_str("2-digit"));
    set(&opts, "minute", &JsValue::from_str("2-digit"));
    let loc = if locale.is_empty() { "default" } else { locale };
    date.to_locale_time_string_with_options(loc, &opts)
        .as_string()
        .unwrap_or_default()
}

/// Appends a number in decimal.
pub fn push_number(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for d in &digits[i..] {
        out.push(char::from(*d));
    }
}

/// `29:41`, or `1:02:03` past an hour, for the seconds left.
pub fn countdown(seconds: i64) -> String {
    let s = seconds.max(0) as u64;
    let (h, m, sec) = (s / 3600, (s / 60) % 60, s % 60);
    let mut out = String::with_capacity(8);
    let two = |out: &mut String, v: u64| {
        if v < 10 {
            out.push('0');
        }
        push_number(out, v);
    };
    if h > 0 {
        push_number(&mut out, h);
        out.push(':');
        two(&mut out, m);
    } else {
        push_number(&mut out, m);
    }
    out.push(':');
    two(&mut out, sec);
    out
}
