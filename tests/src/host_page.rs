//! A host page (any website) served on its own port: another origin than the relay.

use anyhow::Result;

/// A host page (any website) on its own port: another origin than the relay.
pub struct HostPage {
    pub origin: String,
    task: tokio::task::JoinHandle<()>,
}

impl HostPage {
    /// Binds a port now so the site's allowed origin can be registered before the page serves.
    pub async fn bind() -> Result<(tokio::net::TcpListener, String)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let origin = format!("http://{}", listener.local_addr()?);
        Ok((listener, origin))
    }

    /// Serves `html` at `/` on the bound listener, and a page without the widget at
    /// [`HostPage::blank`] (same origin: its storage is the widget's).
    pub fn serve(listener: tokio::net::TcpListener, origin: String, html: String) -> HostPage {
        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::get(move || {
                    let html = html.clone();
                    async move { axum::response::Html(html) }
                }),
            )
            .route(
                "/blank",
                axum::routing::get(|| async { axum::response::Html("<!doctype html><title>blank</title>") }),
            );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HostPage { origin, task }
    }

    /// The host origin's page without the widget.
    pub fn blank(&self) -> String {
        format!("{}/blank", self.origin)
    }

    /// A plain shop page with the chatpay script tag.
    pub fn shop_html(relay: &str, site: &str, extra_head: &str) -> String {
        format!(
            "<!doctype html><html><head><meta charset=utf-8><title>Host shop</title>{extra_head}</head>\
             <body><h1>A host shop</h1><p>Products and prices.</p>\
             <script async src=\"{relay}/embed.js\" data-site=\"{site}\"></script></body></html>"
        )
    }
}

impl Drop for HostPage {
    fn drop(&mut self) {
        self.task.abort();
    }
}
