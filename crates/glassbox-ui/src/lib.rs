//! The web UI's built files (`web/`, built by `build.rs`), embedded in the binary.
//!
//! Invariant: knows nothing about HTTP; `glassbox-http` decides how files are served.

use std::borrow::Cow;

#[derive(rust_embed::RustEmbed)]
#[folder = "$OUT_DIR/dist"]
struct Dist;

/// One embedded file.
pub struct Asset {
    pub bytes: Cow<'static, [u8]>,
    /// Guessed from the extension (`text/html; charset=utf-8`, ...).
    pub content_type: &'static str,
}

/// The file at `path` (no leading `/`), e.g. `index.html` or `assets/index-3f2a.js`.
pub fn get(path: &str) -> Option<Asset> {
    Dist::get(path).map(|file| Asset {
        bytes: file.data,
        content_type: content_type(path),
    })
}

/// The SPA's entry page.
pub fn index_html() -> Asset {
    get("index.html").expect("build.rs always writes index.html (the UI or a placeholder)")
}

/// True when the real UI is embedded (not the placeholder page).
pub fn is_built() -> bool {
    Dist::iter().any(|path| path.starts_with("assets/"))
}

fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map(|(_, ext)| ext).unwrap_or("");
    match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn index_html_is_always_present() {
        let index = super::index_html();
        assert!(!index.bytes.is_empty());
        assert_eq!(index.content_type, "text/html; charset=utf-8");
    }
}
