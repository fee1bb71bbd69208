//! Stripe's request encoding: `application/x-www-form-urlencoded` with bracketed keys for
//! nested values, like `line_items[0][price_data][currency]=usd` and `metadata[site]=demo`.

/// An ordered list of form fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn new() -> Form {
        Form::default()
    }

    /// Adds `key=value`; `key` is already in bracket form.
    pub fn set(mut self, key: impl Into<String>, value: impl ToString) -> Form {
        self.0.push((key.into(), value.to_string()));
        self
    }

    /// Adds `key=value` only when `value` is `Some`.
    pub fn set_opt(self, key: impl Into<String>, value: Option<impl ToString>) -> Form {
        match value {
            Some(v) => self.set(key, v),
            None => self,
        }
    }

    /// Adds `prefix[name]=value` for every entry, like `metadata[site]=demo`.
    pub fn map<'a>(mut self, prefix: &str, entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Form {
        for (k, v) in entries {
            self.0.push((format!("{prefix}[{k}]"), v.to_owned()));
        }
        self
    }

    pub fn fields(&self) -> &[(String, String)] {
        &self.0
    }

    /// The encoded body.
    pub fn encode(&self) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            ser.append_pair(k, v);
        }
        ser.finish()
    }

    /// Decodes a body (used by the simulator).
    pub fn decode(body: &[u8]) -> Form {
        Form(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every `prefix[name]` entry as `(name, value)`.
    pub fn entries_under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.0.iter().filter_map(move |(k, v)| {
            let rest = k.strip_prefix(prefix)?.strip_prefix('[')?.strip_suffix(']')?;
            (!rest.contains('[')).then_some((rest, v.as_str()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_keys_are_bracketed_and_values_escaped() {
        let form = Form::new()
            .set("mode", "payment")
            .set("line_items[0][price_data][currency]", "usd")
            .set("line_items[0][price_data][unit_amount]", 4999)
            .set("line_items[0][price_data][product_data][name]", "Deposit & fees")
            .map("metadata", [("site", "demo"), ("payment", "pay_1")])
            .set_opt("payment_method_configuration", None::<&str>);
        assert_eq!(
            form.encode(),
            "mode=payment&line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D=usd\
             &line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=4999\
             &line_items%5B0%5D%5Bprice_data%5D%5Bproduct_data%5D%5Bname%5D=Deposit+%26+fees\
             &metadata%5Bsite%5D=demo&metadata%5Bpayment%5D=pay_1"
        );
        let back = Form::decode(form.encode().as_bytes());
        assert_eq!(back, form);
        assert_eq!(
            back.get("line_items[0][price_data][product_data][name]"),
            Some("Deposit & fees")
        );
        assert_eq!(
            back.entries_under("metadata").collect::<Vec<_>>(),
            vec![("site", "demo"), ("payment", "pay_1")]
        );
    }
}
