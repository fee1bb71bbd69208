//! Plain HTTP surfaces: health, the loader, the hashed widget files and their caching.

mod common;

use std::path::Path;

use chatpay_server::assets::WidgetAssets;
use common::{Backend, TestApp};

async fn healthz_answers_ok(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let resp = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok");
    app.stop().await;
}
both!(healthz_answers_ok);

/// A fake Trunk output folder with the files the relay expects.
fn fake_dist(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("chatpay-widget.js"),
        "export default function init(){}\n".repeat(50),
    )
    .unwrap();
    std::fs::write(
        dir.join("chatpay-widget_bg.wasm"),
        [0u8, 97, 115, 109, 1, 0, 0, 0].repeat(200),
    )
    .unwrap();
    std::fs::write(dir.join("widget.css"), ".cp{color:red}\n".repeat(40)).unwrap();
    std::fs::write(
        dir.join("embed.js"),
        "import(base+'__CHATPAY_JS__');fetch(base+'__CHATPAY_WASM__');link('__CHATPAY_CSS__');",
    )
    .unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><script async src=\"/embed.js\" data-site=\"demo\"></script>",
    )
    .unwrap();
}

#[tokio::test]
async fn the_loader_names_hashed_files_that_are_cached_for_a_year_and_compressed() {
    let dir = std::env::temp_dir().join(format!("chatpay-dist-{}", rand::random::<u32>()));
    fake_dist(&dir);
    let app = TestApp::spawn_with_assets(Backend::Sqlite, WidgetAssets::load(&dir)).await;
    let client = reqwest::Client::builder().no_gzip().no_brotli().build().unwrap();

    let embed = client.get(app.url("/embed.js")).send().await.unwrap();
    assert_eq!(embed.status(), 200);
    assert_eq!(embed.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(embed.headers()["cache-control"], "public, max-age=300");
    let loader = embed.text().await.unwrap();
    assert!(!loader.contains("__CHATPAY_"), "placeholders filled: {loader}");
    let path_of = |ext: &str| {
        let start = loader.find("/w/").unwrap();
        let rest = &loader[start..];
        let url = rest.split('\'').next().unwrap().to_owned();
        if url.ends_with(ext) {
            return url;
        }
        let idx = loader
            .match_indices("/w/")
            .map(|(i, _)| i)
            .find(|i| loader[*i..].split('\'').next().unwrap().ends_with(ext))
            .unwrap();
        loader[idx..].split('\'').next().unwrap().to_owned()
    };
    let wasm_path = path_of(".wasm");
    assert_eq!(wasm_path.len(), "/w/".len() + 16 + ".wasm".len(), "{wasm_path}");

    let wasm = client
        .get(app.url(&wasm_path))
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(wasm.status(), 200);
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    assert_eq!(
        wasm.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(wasm.headers()["content-encoding"], "br");
    assert_eq!(wasm.headers()["access-control-allow-origin"], "*");
    let etag = wasm.headers()["etag"].to_str().unwrap().to_owned();
    let body = wasm.bytes().await.unwrap();
    assert!(
        body.len() < 1600,
        "brotli shrank the repetitive file: {}",
        body.len()
    );

    let gz = client
        .get(app.url(&wasm_path))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let plain = client.get(app.url(&wasm_path)).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.bytes().await.unwrap().len(), 1600);

    let again = client
        .get(app.url(&wasm_path))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    let css = client.get(app.url(&path_of(".css"))).send().await.unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    let js = client.get(app.url(&path_of(".js"))).send().await.unwrap();
    assert_eq!(js.headers()["content-type"], "text/javascript; charset=utf-8");

    let stale = client
        .get(app.url("/w/0000000000000000.wasm"))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 404);

    let demo = client.get(app.url("/demo")).send().await.unwrap();
    assert_eq!(demo.status(), 200);
    assert!(demo.text().await.unwrap().contains("data-site=\"demo\""));
    app.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn without_a_built_widget_the_loader_says_how_to_build_it() {
    let app = TestApp::spawn_with_assets(
        Backend::Sqlite,
        WidgetAssets::load(Path::new("/nonexistent/dist")),
    )
    .await;
    let resp = reqwest::get(app.url("/embed.js")).await.unwrap();
    assert_eq!(resp.status(), 503);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("console.error") && body.contains("cargo xtask run"),
        "{body}"
    );
    app.stop().await;
}

/// Security headers: the console, the return pages, the preview and the simulator cannot be framed; the
/// console's CSP allows its wasm and Trunk's start-up script by hash (no 'unsafe-inline');
/// console API answers are never cached; the console's index.html is never immutable.
#[tokio::test]
async fn pages_carry_security_headers() {
    let dist = std::env::temp_dir().join(format!("chatpay-dist-{}", rand::random::<u32>()));
    std::fs::create_dir_all(dist.join("console")).unwrap();
    let script = "\nimport init from '/console/app.js';\nawait init();\n";
    std::fs::write(
        dist.join("console/index.html"),
        format!(
            "<!doctype html><html><head><script type=\"module\">{script}</script></head><body></body></html>"
        ),
    )
    .unwrap();
    let app = TestApp::spawn_with(Backend::Sqlite, WidgetAssets::none(), None, |s| {
        s.dist = dist.clone()
    })
    .await;

    let console = reqwest::get(app.url("/console/")).await.unwrap();
    let csp = console.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    use base64::Engine as _;
    use sha2::Digest as _;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script.as_bytes()));
    assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
    assert!(
        csp.contains("'wasm-unsafe-eval'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(console.headers()["x-frame-options"], "DENY");
    let direct = reqwest::get(app.url("/console/index.html")).await.unwrap();
    assert_eq!(
        direct.headers()["cache-control"],
        "no-cache",
        "index.html is never immutable"
    );

    for path in ["/checkout/return?payment=pay_none", "/simulator/checkout/cs_none"] {
        let resp = reqwest::get(app.url(path)).await.unwrap();
        let csp = resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.starts_with("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(resp.headers()["x-frame-options"], "DENY", "{path}");
        assert_eq!(resp.headers()["referrer-policy"], "no-referrer", "{path}");
    }
    // The console's "Try it" page runs a site's live chat on the relay's own origin (which
    // may open any site's chat): no other page may frame it.
    let preview = reqwest::get(app.url("/preview/shop")).await.unwrap();
    assert_eq!(preview.status(), 200);
    assert_eq!(preview.headers()["x-frame-options"], "DENY");
    assert_eq!(
        preview.headers()["content-security-policy"],
        "frame-ancestors 'none'"
    );
    let api = reqwest::get(app.url("/api/console/me")).await.unwrap();
    assert_eq!(api.status(), 401);
    assert_eq!(api.headers()["cache-control"], "no-store");
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");
    app.stop().await;
    let _ = std::fs::remove_dir_all(dist);
}

/// A body larger than the route takes is refused from its `Content-Length`, before anything
/// is read: a client that says `Expect: 100-continue` for 100 MB got `100 Continue` and was
/// invited to send it (the 413 came only after).
#[tokio::test]
async fn an_oversized_body_is_refused_before_the_client_is_told_to_send_it() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.connect_stripe().await;
    for (path, length) in [
        ("/webhooks/stripe/shop", 300_000u64),
        ("/api/console/login", 100_000_000),
    ] {
        let mut tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n\
             Stripe-Signature: t=1,v1=00\r\nX-Chatpay-Console: 1\r\n\
             Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n"
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 256];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read(&mut answer))
            .await
            .expect("an answer without sending the body")
            .unwrap();
        let first = String::from_utf8_lossy(&answer[..n]);
        assert!(
            first.starts_with("HTTP/1.1 413"),
            "{path} with {length} bytes announced: {}",
            first.lines().next().unwrap_or_default()
        );
    }
    app.stop().await;
}
