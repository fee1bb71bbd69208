//! Small server-rendered HTML pages (Checkout return pages, the simulator's hosted page):
//! one layout and one escaping function, so no page forgets to escape.

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A complete page. `title` is escaped here; `body` must already be safe HTML.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{CSS}</style></head><body><main>{body}</main></body></html>",
        title = escape(title)
    )
}

/// A page with room for tables (the simulator's dashboard). Like [`page`].
pub fn wide_page(title: &str, body: &str) -> String {
    page(title, body).replacen("<main>", "<main class=\"wide\">", 1)
}

/// The CSP source of [`CSS`] (`sha256-…`), so pages need no `'unsafe-inline'`.
pub fn css_hash() -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(CSS.as_bytes()))
    )
}

const CSS: &str = "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;\
background:#f6f7fb;color:#1d2330}main{max-width:440px;margin:48px auto;background:#fff;border-radius:14px;\
padding:28px;box-shadow:0 8px 30px rgba(0,0,0,.08)}h1{font-size:22px;margin:0 0 8px}\
.test{display:inline-block;background:#f59e0b;color:#1d2330;font-weight:700;font-size:12px;\
letter-spacing:.06em;padding:3px 8px;border-radius:6px;margin-bottom:14px}\
.amount{font-size:32px;font-weight:700;margin:10px 0 4px}.muted{color:#6b7280;font-size:14px}\
button,.button{display:block;width:100%;box-sizing:border-box;border:0;border-radius:10px;padding:12px;\
font-size:16px;font-weight:600;cursor:pointer;margin-top:12px;text-align:center;text-decoration:none}\
.primary{background:#4f46e5;color:#fff}.secondary{background:#eef0f6;color:#1d2330}\
.ok{color:#047857}.bad{color:#b91c1c}main.wide{max-width:1100px}h2{font-size:18px;margin:24px 0 8px}\
table{width:100%;border-collapse:collapse;font-size:14px}th,td{text-align:left;vertical-align:top;padding:6px 8px;\
border-bottom:1px solid #eef0f6;overflow-wrap:anywhere}code{font:13px ui-monospace,Menlo,monospace}\
form.inline{display:inline}button.small{display:inline-block;width:auto;padding:4px 10px;font-size:13px;margin:4px 0 0 6px}\
.delivery{margin:0 0 6px}input[type=number]{width:90px}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            escape(r#"<b onclick="x">&'"#),
            "&lt;b onclick=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert!(page("<script>", "ok").contains("<title>&lt;script&gt;</title>"));
    }
}
