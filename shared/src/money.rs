//! Money as Stripe charges it: an integer count of the currency's minor units.
//!
//! [`Money::parse`] reads what a site owner or a visitor typed and either returns exactly
//! that amount or an error that names the value and the fix. It never rounds.
//!
//! What it accepts, deliberately:
//! - digits, optionally a dot and decimals: `49.99`, `500`, `0.5`, `007` (= 7);
//! - surrounding white space is ignored: ` 49.99 ` is `49.99` (it is how pasted text arrives);
//! - at most as many decimals as the currency has: `49.999 USD` is an error, not 50.00.
//!
//! What it refuses, each with its own message:
//! - a comma anywhere (`49,99` could be 49.99 or 4999; `1,000.00` hides a thousands separator);
//! - signs, exponents and words: `-5`, `+5`, `1e3`, `NaN`, `inf`, `$5`;
//! - a dot without digits on both sides: `.5`, `5.`;
//! - fractions where the currency has none: `49.5 JPY` (zero-decimal currencies);
//! - three-decimal currencies (BHD JOD KWD OMR TND) whose last minor digit is not 0:
//!   `5.124 KWD` (Stripe requires it); `5.120 KWD` and `5.12 KWD` are 5120;
//! - ISK and UGX in anything but whole units: Stripe takes them as two-decimal amounts whose
//!   decimals are always `00`, so `5 ISK` is 500 minor units and `5.5 ISK` is an error;
//! - amounts below Stripe's documented minimum for the currency (`0.49 USD`), zero, and
//!   amounts above Stripe's maximum (8 digits of minor units; IDR 12, COP 10, INR 9).
//!
//! Currencies without a documented minimum accept any positive amount; Stripe then applies
//! the minimum of the account's settlement currency after conversion and refuses a charge
//! that is too small, which chatpay reports as a Stripe error.

use std::fmt;

/// How a currency's minor units behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Any amount of minor units.
    Plain,
    /// Three-decimal currency: the last minor digit must be 0.
    LastDigitZero,
    /// Sent as two decimals, always `00` (ISK, UGX): whole units only.
    WholeUnitsOnly,
}

/// A currency Stripe can charge in.
#[derive(Debug, PartialEq, Eq)]
pub struct Currency {
    /// Upper-case ISO 4217 code (Stripe wants it lower-case on the wire: [`Currency::wire`]).
    pub code: &'static str,
    /// Minor-unit digits in Stripe's API.
    pub exponent: u8,
    pub rule: Rule,
    /// Stripe's documented minimum charge, in minor units.
    pub min_minor: Option<i64>,
    /// Stripe's maximum number of digits of `amount`.
    pub max_digits: u8,
}

impl Currency {
    /// The code as Stripe wants it in requests: lower case.
    pub fn wire(&self) -> String {
        self.code.to_ascii_lowercase()
    }

    /// The largest amount Stripe accepts, in minor units.
    pub fn max_minor(&self) -> i64 {
        10i64.pow(u32::from(self.max_digits)) - 1
    }

    /// Decimals people write: none for ISK and UGX even though the API has two.
    pub fn display_decimals(&self) -> u8 {
        match self.rule {
            Rule::WholeUnitsOnly => 0,
            _ => self.exponent,
        }
    }
}

const fn c(code: &'static str, exponent: u8, rule: Rule, min_minor: Option<i64>, max_digits: u8) -> Currency {
    Currency {
        code,
        exponent,
        rule,
        min_minor,
        max_digits,
    }
}

const P: Rule = Rule::Plain;

/// Every currency Stripe lists for charges, with its minor units, special rule, documented
/// minimum (in minor units) and maximum digits. Sources: Stripe's "Supported currencies"
/// page (presentment list, zero- and three-decimal lists, special cases, minimum and
/// maximum charge amounts).
pub static CURRENCIES: &[Currency] = &[
    c("USD", 2, P, Some(50), 8),
    c("AED", 2, P, Some(200), 8),
    c("AFN", 2, P, None, 8),
    c("ALL", 2, P, None, 8),
    c("AMD", 2, P, None, 8),
    c("ANG", 2, P, None, 8),
    c("AOA", 2, P, None, 8),
    c("ARS", 2, P, Some(50), 8),
    c("AUD", 2, P, Some(50), 8),
    c("AWG", 2, P, None, 8),
    c("AZN", 2, P, None, 8),
    c("BAM", 2, P, None, 8),
    c("BBD", 2, P, None, 8),
    c("BDT", 2, P, None, 8),
    c("BGN", 2, P, None, 8),
    c("BHD", 3, Rule::LastDigitZero, None, 8),
    c("BIF", 0, P, None, 8),
    c("BMD", 2, P, None, 8),
    c("BND", 2, P, None, 8),
    c("BOB", 2, P, None, 8),
    c("BRL", 2, P, Some(50), 8),
    c("BSD", 2, P, None, 8),
    c("BWP", 2, P, None, 8),
    c("BYN", 2, P, None, 8),
    c("BZD", 2, P, None, 8),
    c("CAD", 2, P, Some(50), 8),
    c("CDF", 2, P, None, 8),
    c("CHF", 2, P, Some(50), 8),
    c("CLP", 0, P, None, 8),
    c("CNY", 2, P, None, 8),
    c("COP", 2, P, Some(50), 10),
    c("CRC", 2, P, None, 8),
    c("CVE", 2, P, None, 8),
    c("CZK", 2, P, Some(1500), 8),
    c("DJF", 0, P, None, 8),
    c("DKK", 2, P, Some(250), 8),
    c("DOP", 2, P, None, 8),
    c("DZD", 2, P, None, 8),
    c("EGP", 2, P, None, 8),
    c("ETB", 2, P, None, 8),
    c("EUR", 2, P, Some(50), 8),
    c("FJD", 2, P, None, 8),
    c("FKP", 2, P, None, 8),
    c("GBP", 2, P, Some(30), 8),
    c("GEL", 2, P, None, 8),
    c("GIP", 2, P, None, 8),
    c("GMD", 2, P, None, 8),
    c("GNF", 0, P, None, 8),
    c("GTQ", 2, P, None, 8),
    c("GYD", 2, P, None, 8),
    c("HKD", 2, P, Some(400), 8),
    c("HNL", 2, P, None, 8),
    c("HTG", 2, P, None, 8),
    c("HUF", 2, P, Some(17500), 8),
    c("IDR", 2, P, Some(50), 12),
    c("ILS", 2, P, Some(50), 8),
    c("INR", 2, P, Some(50), 9),
    c("ISK", 2, Rule::WholeUnitsOnly, None, 8),
    c("JMD", 2, P, None, 8),
    c("JOD", 3, Rule::LastDigitZero, None, 8),
    c("JPY", 0, P, Some(50), 8),
    c("KES", 2, P, None, 8),
    c("KGS", 2, P, None, 8),
    c("KHR", 2, P, None, 8),
    c("KMF", 0, P, None, 8),
    c("KRW", 0, P, Some(50), 8),
    c("KWD", 3, Rule::LastDigitZero, None, 8),
    c("KYD", 2, P, None, 8),
    c("KZT", 2, P, None, 8),
    c("LAK", 2, P, None, 8),
    c("LBP", 2, P, None, 8),
    c("LKR", 2, P, None, 8),
    c("LRD", 2, P, None, 8),
    c("LSL", 2, P, None, 8),
    c("MAD", 2, P, None, 8),
    c("MDL", 2, P, None, 8),
    c("MGA", 0, P, None, 8),
    c("MKD", 2, P, None, 8),
    c("MMK", 2, P, None, 8),
    c("MNT", 2, P, None, 8),
    c("MOP", 2, P, None, 8),
    c("MUR", 2, P, None, 8),
    c("MVR", 2, P, None, 8),
    c("MWK", 2, P, None, 8),
    c("MXN", 2, P, Some(1000), 8),
    c("MYR", 2, P, Some(200), 8),
    c("MZN", 2, P, None, 8),
    c("NAD", 2, P, None, 8),
    c("NGN", 2, P, None, 8),
    c("NIO", 2, P, None, 8),
    c("NOK", 2, P, Some(300), 8),
    c("NPR", 2, P, None, 8),
    c("NZD", 2, P, Some(50), 8),
    c("OMR", 3, Rule::LastDigitZero, None, 8),
    c("PAB", 2, P, None, 8),
    c("PEN", 2, P, None, 8),
    c("PGK", 2, P, None, 8),
    c("PHP", 2, P, Some(50), 8),
    c("PKR", 2, P, None, 8),
    c("PLN", 2, P, Some(200), 8),
    c("PYG", 0, P, None, 8),
    c("QAR", 2, P, None, 8),
    c("RON", 2, P, Some(200), 8),
    c("RSD", 2, P, None, 8),
    c("RUB", 2, P, Some(50), 8),
    c("RWF", 0, P, None, 8),
    c("SAR", 2, P, None, 8),
    c("SBD", 2, P, None, 8),
    c("SCR", 2, P, None, 8),
    c("SEK", 2, P, Some(300), 8),
    c("SGD", 2, P, Some(50), 8),
    c("SHP", 2, P, None, 8),
    c("SLE", 2, P, None, 8),
    c("SOS", 2, P, None, 8),
    c("SRD", 2, P, None, 8),
    c("STD", 2, P, None, 8),
    c("SZL", 2, P, None, 8),
    c("THB", 2, P, Some(1000), 8),
    c("TJS", 2, P, None, 8),
    c("TND", 3, Rule::LastDigitZero, None, 8),
    c("TOP", 2, P, None, 8),
    c("TRY", 2, P, None, 8),
    c("TTD", 2, P, None, 8),
    c("TWD", 2, P, None, 8),
    c("TZS", 2, P, None, 8),
    c("UAH", 2, P, None, 8),
    c("UGX", 2, Rule::WholeUnitsOnly, None, 8),
    c("UYU", 2, P, None, 8),
    c("UZS", 2, P, None, 8),
    c("VND", 0, P, None, 8),
    c("VUV", 0, P, None, 8),
    c("WST", 2, P, None, 8),
    c("XAF", 0, P, None, 8),
    c("XCD", 2, P, None, 8),
    c("XOF", 0, P, None, 8),
    c("XPF", 0, P, None, 8),
    c("YER", 2, P, None, 8),
    c("ZAR", 2, P, Some(50), 8),
    c("ZMW", 2, P, None, 8),
];

/// Minor-unit digits of a currency in Stripe's API, without the table (for the widget,
/// where every byte is downloaded): 0 for zero-decimal, 3 for three-decimal, else 2.
/// ISK and UGX are 2 here (Stripe's API) but shown without decimals: see
/// [`display_decimals_of`].
pub fn api_exponent_of(code: &str) -> u8 {
    const ZERO: [&str; 15] = [
        "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "VND", "VUV", "XAF", "XOF",
        "XPF",
    ];
    const THREE: [&str; 5] = ["BHD", "JOD", "KWD", "OMR", "TND"];
    let up = |c: &&str| c.eq_ignore_ascii_case(code);
    if ZERO.iter().any(up) {
        0
    } else if THREE.iter().any(up) {
        3
    } else {
        2
    }
}

/// Decimals people see for a currency (ISK and UGX: none).
pub fn display_decimals_of(code: &str) -> u8 {
    if code.eq_ignore_ascii_case("ISK") || code.eq_ignore_ascii_case("UGX") {
        0
    } else {
        api_exponent_of(code)
    }
}

/// Looks a currency up by its code, in any case.
pub fn currency(code: &str) -> Result<&'static Currency, MoneyError> {
    let code = code.trim();
    CURRENCIES
        .iter()
        .find(|c| c.code.eq_ignore_ascii_case(code))
        .ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))
}

/// An amount in a currency, in minor units, valid for a Stripe charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    /// The amount in the currency's minor units (cents for USD, yen for JPY).
    pub minor: i64,
    pub currency: &'static Currency,
}

/// Why an amount cannot be charged. Every message names the value and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyError {
    UnknownCurrency(String),
    Empty {
        currency: &'static str,
    },
    Comma {
        text: String,
        currency: &'static str,
    },
    NotANumber {
        text: String,
        currency: &'static str,
    },
    TooManyDecimals {
        text: String,
        currency: &'static str,
        max: u8,
    },
    LastDigitNotZero {
        text: String,
        currency: &'static str,
    },
    WholeUnitsOnly {
        text: String,
        currency: &'static str,
    },
    Zero {
        text: String,
        currency: &'static str,
    },
    BelowMinimum {
        text: String,
        currency: &'static str,
        minimum: String,
    },
    AboveMaximum {
        text: String,
        currency: &'static str,
        maximum: String,
    },
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoneyError::UnknownCurrency(code) => write!(
                f,
                "unknown currency '{code}': use a three-letter code Stripe supports, like USD, EUR or JPY"
            ),
            MoneyError::Empty { currency } => write!(f, "no amount given for {currency}: write one like 49.99"),
            MoneyError::Comma { text, currency } => write!(
                f,
                "invalid amount '{text}' for {currency}: commas are not accepted; use a dot for decimals and no thousands separators, like 1000.50"
            ),
            MoneyError::NotANumber { text, currency } => write!(
                f,
                "invalid amount '{text}' for {currency}: write digits with an optional dot, like 49.99"
            ),
            MoneyError::TooManyDecimals { text, currency, max: 0 } => write!(
                f,
                "invalid amount '{text}' for {currency}: {currency} has no decimals; write a whole number like 500"
            ),
            MoneyError::TooManyDecimals { text, currency, max } => write!(
                f,
                "invalid amount '{text}' for {currency}: at most {max} decimals; amounts are never rounded"
            ),
            MoneyError::LastDigitNotZero { text, currency } => write!(
                f,
                "invalid amount '{text}' for {currency}: Stripe needs the third decimal of {currency} to be 0, like 5.120"
            ),
            MoneyError::WholeUnitsOnly { text, currency } => write!(
                f,
                "invalid amount '{text}' for {currency}: {currency} can only be charged in whole units, like 500"
            ),
            MoneyError::Zero { text, currency } => write!(
                f,
                "invalid amount '{text}' for {currency}: the amount must be more than zero"
            ),
            MoneyError::BelowMinimum { text, currency, minimum } => write!(
                f,
                "amount '{text}' for {currency} is below Stripe's minimum charge of {minimum} {currency}"
            ),
            MoneyError::AboveMaximum { text, currency, maximum } => write!(
                f,
                "amount '{text}' for {currency} is above Stripe's maximum charge of {maximum} {currency}"
            ),
        }
    }
}

impl std::error::Error for MoneyError {}

impl Money {
    /// Parses what a person typed for `currency_code`. See the module docs for the rules.
    pub fn parse(text: &str, currency_code: &str) -> Result<Money, MoneyError> {
        let cur = currency(currency_code)?;
        let code = cur.code;
        let raw = text;
        let text = text.trim();
        let err_text = || raw.to_owned();
        if text.is_empty() {
            return Err(MoneyError::Empty { currency: code });
        }
        if text.contains(',') {
            return Err(MoneyError::Comma {
                text: err_text(),
                currency: code,
            });
        }
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (text, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || frac.is_some_and(|f| !digits(f)) {
            return Err(MoneyError::NotANumber {
                text: err_text(),
                currency: code,
            });
        }
        let frac = frac.unwrap_or("");
        let allowed = cur.display_decimals();
        // Trailing zeros beyond the allowed decimals change nothing (`500.00 JPY` is 500).
        let significant = frac.trim_end_matches('0');
        if significant.len() > usize::from(allowed) {
            return Err(match cur.rule {
                Rule::WholeUnitsOnly => MoneyError::WholeUnitsOnly {
                    text: err_text(),
                    currency: code,
                },
                _ => MoneyError::TooManyDecimals {
                    text: err_text(),
                    currency: code,
                    max: allowed,
                },
            });
        }
        let whole = whole.trim_start_matches('0');
        // 19 digits overflow i64; anything that long is above every maximum anyway.
        if whole.len() > 15 {
            return Err(MoneyError::AboveMaximum {
                text: err_text(),
                currency: code,
                maximum: format_minor(cur.max_minor(), cur),
            });
        }
        let mut minor: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().unwrap_or(0)
        };
        for i in 0..usize::from(cur.exponent) {
            let d = significant.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
            minor = minor * 10 + d;
        }
        if cur.rule == Rule::LastDigitZero && minor % 10 != 0 {
            return Err(MoneyError::LastDigitNotZero {
                text: err_text(),
                currency: code,
            });
        }
        Money::checked(minor, cur, err_text())
    }

    /// An amount already in minor units (from Stripe or the store), checked like `parse`.
    pub fn from_minor(minor: i64, currency_code: &str) -> Result<Money, MoneyError> {
        let cur = currency(currency_code)?;
        let text = format_minor(minor, cur);
        if minor < 0 {
            return Err(MoneyError::NotANumber {
                text,
                currency: cur.code,
            });
        }
        match cur.rule {
            Rule::LastDigitZero if minor % 10 != 0 => {
                return Err(MoneyError::LastDigitNotZero {
                    text,
                    currency: cur.code,
                })
            }
            Rule::WholeUnitsOnly if minor % 100 != 0 => {
                return Err(MoneyError::WholeUnitsOnly {
                    text,
                    currency: cur.code,
                })
            }
            _ => {}
        }
        Money::checked(minor, cur, text)
    }

    fn checked(minor: i64, cur: &'static Currency, text: String) -> Result<Money, MoneyError> {
        if minor == 0 {
            return Err(MoneyError::Zero {
                text,
                currency: cur.code,
            });
        }
        if let Some(min) = cur.min_minor {
            if minor < min {
                return Err(MoneyError::BelowMinimum {
                    text,
                    currency: cur.code,
                    minimum: format_minor(min, cur),
                });
            }
        }
        if minor > cur.max_minor() {
            return Err(MoneyError::AboveMaximum {
                text,
                currency: cur.code,
                maximum: format_minor(cur.max_minor(), cur),
            });
        }
        Ok(Money { minor, currency: cur })
    }

    /// The amount in major units as people write it: `49.99`, `500` (JPY), `5.120` (KWD),
    /// `5` (ISK).
    pub fn major(&self) -> String {
        format_minor(self.minor, self.currency)
    }
}

impl fmt::Display for Money {
    /// `49.99 USD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.major(), self.currency.code)
    }
}

/// Minor units as a major-unit string for `cur`, without rounding.
pub fn format_minor(minor: i64, cur: &Currency) -> String {
    let exp = u32::from(cur.exponent);
    let scale = 10i64.pow(exp);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let whole = abs / scale as u64;
    let frac = abs % scale as u64;
    let shown = cur.display_decimals();
    if shown == 0 {
        // ISK/UGX: the API's two decimals are always 00.
        return format!("{sign}{whole}");
    }
    format!("{sign}{whole}.{frac:0width$}", width = exp as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str, cur: &str) -> i64 {
        Money::parse(text, cur)
            .unwrap_or_else(|e| panic!("{text} {cur}: {e}"))
            .minor
    }

    fn err(text: &str, cur: &str) -> String {
        Money::parse(text, cur).expect_err(text).to_string()
    }

    #[test]
    fn the_table_from_the_issue() {
        assert_eq!(ok("49.99", "USD"), 4999);
        assert_eq!(ok("500", "JPY"), 500);
        assert!(err("49.5", "JPY").contains("JPY has no decimals"));
        assert!(err("5.124", "KWD").contains("third decimal of KWD to be 0"));
        assert_eq!(ok("5.120", "KWD"), 5120);
        assert!(err("0.49", "USD").contains("below Stripe's minimum charge of 0.50 USD"));
        assert!(err("-5", "USD").contains("invalid amount '-5'"));
        assert!(err("1e3", "USD").contains("invalid amount '1e3'"));
        assert!(err("NaN", "USD").contains("invalid amount 'NaN'"));
        assert_eq!(ok(" 49.99 ", "USD"), 4999, "surrounding space is ignored");
        assert!(err("49,99", "USD").contains("commas are not accepted"));
        assert!(err("1,000.00", "USD").contains("commas are not accepted"));
    }

    #[test]
    fn more_edges_each_deliberate() {
        assert_eq!(ok("0.5", "USD"), 50);
        assert_eq!(ok("007", "USD"), 700);
        assert_eq!(ok("500.00", "JPY"), 500, "zeros after the point change nothing");
        assert_eq!(ok("5.12", "KWD"), 5120);
        assert_eq!(ok("5", "ISK"), 500, "ISK goes to Stripe as two decimals of 00");
        assert_eq!(ok("5.00", "ISK"), 500);
        assert!(err("5.5", "ISK").contains("whole units"));
        assert_eq!(ok("1000", "UGX"), 100_000);
        assert!(err("49.999", "USD").contains("at most 2 decimals"));
        assert!(err(".5", "USD").contains("invalid amount '.5'"));
        assert!(err("5.", "USD").contains("invalid amount '5.'"));
        assert!(err("+5", "USD").contains("invalid amount '+5'"));
        assert!(err("$5", "USD").contains("invalid amount '$5'"));
        assert!(err("inf", "USD").contains("invalid amount 'inf'"));
        assert!(err("0", "USD").contains("more than zero"));
        assert!(err("", "USD").contains("no amount given"));
        assert!(err("1000000.00", "USD").contains("above Stripe's maximum charge of 999999.99 USD"));
        assert_eq!(ok("999999.99", "USD"), 99_999_999);
        assert_eq!(ok("1000000.00", "IDR"), 100_000_000, "IDR allows 12 digits");
        assert!(err("99999999999999999999", "USD").contains("above"));
        assert!(err("49.99", "XYZ").contains("unknown currency 'XYZ'"));
        assert_eq!(ok("49.99", "usd"), 4999, "codes in any case");
        assert_eq!(ok("0.30", "GBP"), 30);
        assert!(err("0.29", "GBP").contains("0.30 GBP"));
        assert!(err("49", "JPY").contains("50 JPY"));
    }

    #[test]
    fn formatting_round_trips() {
        for (text, cur, shown) in [
            ("49.99", "USD", "49.99 USD"),
            ("500", "JPY", "500 JPY"),
            ("5.12", "KWD", "5.120 KWD"),
            ("5", "ISK", "5 ISK"),
            ("0.5", "EUR", "0.50 EUR"),
        ] {
            let m = Money::parse(text, cur).unwrap();
            assert_eq!(m.to_string(), shown);
            assert_eq!(Money::parse(&m.major(), cur).unwrap(), m);
        }
    }

    #[test]
    fn from_minor_checks_the_same_rules() {
        assert_eq!(Money::from_minor(4999, "usd").unwrap().major(), "49.99");
        assert!(Money::from_minor(5124, "KWD").is_err());
        assert!(Money::from_minor(550, "ISK").is_err());
        assert!(Money::from_minor(49, "USD").is_err());
        assert!(Money::from_minor(-1, "USD").is_err());
    }

    #[test]
    fn the_table_free_exponents_agree_with_the_table() {
        for c in CURRENCIES {
            assert_eq!(api_exponent_of(c.code), c.exponent, "{}", c.code);
            assert_eq!(
                display_decimals_of(&c.code.to_lowercase()),
                c.display_decimals(),
                "{}",
                c.code
            );
        }
    }

    #[test]
    fn the_table_is_consistent() {
        let mut codes: Vec<_> = CURRENCIES.iter().map(|c| c.code).collect();
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n, "no duplicates");
        assert!(n >= 135);
        for c in CURRENCIES {
            assert_eq!(c.code.len(), 3);
            assert!(c.code.bytes().all(|b| b.is_ascii_uppercase()));
            if let Some(min) = c.min_minor {
                assert!(
                    Money::from_minor(min, c.code).is_ok(),
                    "{} minimum is chargeable",
                    c.code
                );
            }
        }
        let zero: Vec<_> = CURRENCIES
            .iter()
            .filter(|c| c.exponent == 0)
            .map(|c| c.code)
            .collect();
        assert_eq!(
            zero,
            [
                "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "VND", "VUV", "XAF",
                "XOF", "XPF"
            ]
        );
    }
}
