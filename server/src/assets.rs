//! The built widget as the relay serves it: the files Trunk wrote to `dist/widget/`, read
//! once at start-up, named by content hash, with gzip and brotli copies made once (in the
//! background) and chosen by `Accept-Encoding`. The routes that serve them are in
//! [`crate::routes::widget`]; this module knows files and encodings, not routes.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use sha2::{Digest, Sha256};

/// The file names Trunk writes for the widget (see the root's `index.html`).
const WIDGET_JS: &str = "chatpay-widget.js";
const WIDGET_WASM: &str = "chatpay-widget_bg.wasm";
const WIDGET_CSS: &str = "widget.css";
const EMBED_JS: &str = "embed.js";
const DEMO_HTML: &str = "index.html";

/// One servable file with lazily made compressed copies.
#[derive(Debug)]
pub struct Asset {
    content_type: &'static str,
    raw: Bytes,
    etag: String,
    gzip: OnceLock<Bytes>,
    brotli: OnceLock<Bytes>,
}

impl Asset {
    fn new(content_type: &'static str, raw: Bytes) -> Asset {
        let digest = Sha256::digest(&raw);
        Asset {
            content_type,
            etag: format!("\"{}\"", hex::encode(&digest[..12])),
            raw,
            gzip: OnceLock::new(),
            brotli: OnceLock::new(),
        }
    }

    /// The first 16 hex digits of the content hash, used in file names.
    fn short_hash(&self) -> &str {
        &self.etag[1..17]
    }

    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    pub fn gzip(&self) -> &Bytes {
        self.gzip.get_or_init(|| {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            // Writing to a Vec cannot fail.
            let _ = enc.write_all(&self.raw);
            Bytes::from(enc.finish().unwrap_or_default())
        })
    }

    pub fn brotli(&self) -> &Bytes {
        self.brotli.get_or_init(|| {
            let mut out = Vec::new();
            let params = brotli::enc::BrotliEncoderParams {
                quality: 11,
                lgwin: 22,
                ..Default::default()
            };
            let _ = brotli::BrotliCompress(&mut &self.raw[..], &mut out, &params);
            Bytes::from(out)
        })
    }

    /// The response for a GET with these request headers.
    pub fn respond(&self, req: &HeaderMap, cache: &'static str) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if let Ok(etag) = HeaderValue::from_str(&self.etag) {
            headers.insert(header::ETAG, etag);
        }
        let not_modified = req
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == self.etag));
        if not_modified {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        let accepted = req
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let body = if accepts(accepted, "br") {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
            self.brotli().clone()
        } else if accepts(accepted, "gzip") {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            self.gzip().clone()
        } else {
            self.raw.clone()
        };
        (StatusCode::OK, headers, body).into_response()
    }
}

/// Whether an `Accept-Encoding` value allows `coding` (a `q=0` refuses it).
fn accepts(accept_encoding: &str, coding: &str) -> bool {
    accept_encoding.split(',').any(|part| {
        let mut it = part.split(';');
        let name = it.next().unwrap_or("").trim();
        let refused = it.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        name.eq_ignore_ascii_case(coding) && !refused
    })
}

/// The built widget, or why it is missing.
#[derive(Debug)]
pub struct WidgetAssets {
    embed: Option<Arc<Asset>>,
    demo: Option<Arc<Asset>>,
    hashed: HashMap<String, Arc<Asset>>,
    missing: Option<String>,
}

impl WidgetAssets {
    /// Reads the Trunk output folder. A missing or incomplete build is not fatal: the relay
    /// still serves sockets and webhooks, and `/embed.js` says how to build the widget.
    pub fn load(dist: &Path) -> WidgetAssets {
        match Self::try_load(dist) {
            Ok(assets) => assets,
            Err(why) => {
                tracing::warn!("{why}");
                WidgetAssets {
                    embed: None,
                    demo: None,
                    hashed: HashMap::new(),
                    missing: Some(why),
                }
            }
        }
    }

    /// No widget at all (for tests of other surfaces).
    pub fn none() -> WidgetAssets {
        WidgetAssets {
            embed: None,
            demo: None,
            hashed: HashMap::new(),
            missing: Some("the widget was not loaded".into()),
        }
    }

    fn try_load(dist: &Path) -> Result<WidgetAssets, String> {
        let read = |name: &str| {
            std::fs::read(dist.join(name)).map(Bytes::from).map_err(|e| {
                format!(
                    "the widget is not built: cannot read '{}' ({e}); run `cargo xtask run`, \
                     or `trunk build --release` and pass its folder with --dist",
                    dist.join(name).display()
                )
            })
        };
        let js = Asset::new("text/javascript; charset=utf-8", read(WIDGET_JS)?);
        let wasm = Asset::new("application/wasm", read(WIDGET_WASM)?);
        let css = Asset::new("text/css; charset=utf-8", read(WIDGET_CSS)?);
        let name = |a: &Asset, ext: &str| format!("{}.{ext}", a.short_hash());
        let (js_name, wasm_name, css_name) = (name(&js, "js"), name(&wasm, "wasm"), name(&css, "css"));
        let loader =
            String::from_utf8(read(EMBED_JS)?.to_vec()).map_err(|_| "embed.js is not UTF-8".to_owned())?;
        let loader = loader
            .replace("__CHATPAY_JS__", &format!("/w/{js_name}"))
            .replace("__CHATPAY_WASM__", &format!("/w/{wasm_name}"))
            .replace("__CHATPAY_CSS__", &format!("/w/{css_name}"));
        let demo = read(DEMO_HTML)
            .ok()
            .map(|b| Arc::new(Asset::new("text/html; charset=utf-8", b)));
        let mut hashed = HashMap::new();
        hashed.insert(js_name, Arc::new(js));
        hashed.insert(wasm_name, Arc::new(wasm));
        hashed.insert(css_name, Arc::new(css));
        Ok(WidgetAssets {
            embed: Some(Arc::new(Asset::new(
                "text/javascript; charset=utf-8",
                Bytes::from(loader),
            ))),
            demo,
            hashed,
            missing: None,
        })
    }

    /// Makes the compressed copies in the background so the first visitor does not wait.
    pub fn warm(self: &Arc<Self>) {
        let assets = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            for asset in assets.embed.iter().chain(assets.hashed.values()) {
                asset.gzip();
                asset.brotli();
            }
        });
    }

    /// The loader (`/embed.js`), naming the hashed files; `None` when the widget is not built.
    pub fn embed(&self) -> Option<&Arc<Asset>> {
        self.embed.as_ref()
    }

    /// The demo host page, when it was built.
    pub fn demo(&self) -> Option<&Arc<Asset>> {
        self.demo.as_ref()
    }

    /// A hashed widget file by its URL name (`{hash}.js`, …).
    pub fn hashed(&self, name: &str) -> Option<&Arc<Asset>> {
        self.hashed.get(name)
    }

    /// Why the widget is missing (how to build it), when it is.
    pub fn missing(&self) -> Option<&str> {
        self.missing.as_deref()
    }

    /// The hashed widget files by URL name (`{hash}.js`, …).
    pub fn hashed_files(&self) -> impl Iterator<Item = (&str, &Asset)> {
        self.hashed.iter().map(|(k, v)| (k.as_str(), v.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_is_parsed_with_q_values() {
        assert!(accepts("gzip, deflate, br", "br"));
        assert!(accepts("gzip;q=1.0, br;q=0.5", "br"));
        assert!(!accepts("gzip, br;q=0", "br"));
        assert!(!accepts("", "gzip"));
        assert!(accepts("GZIP", "gzip"));
    }

    #[test]
    fn compressed_copies_decompress_to_the_original() {
        use std::io::Read as _;
        let raw = Bytes::from("hello ".repeat(1000));
        let asset = Asset::new("text/plain", raw.clone());
        let mut gz = String::new();
        flate2::read::GzDecoder::new(&asset.gzip()[..])
            .read_to_string(&mut gz)
            .unwrap();
        assert_eq!(gz.as_bytes(), &raw[..]);
        let mut br = Vec::new();
        brotli::BrotliDecompress(&mut &asset.brotli()[..], &mut br).unwrap();
        assert_eq!(br, raw);
        assert!(asset.brotli().len() < 100 && asset.gzip().len() < 100);
    }
}
