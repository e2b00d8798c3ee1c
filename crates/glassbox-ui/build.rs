//! Builds the web UI (`web/`) into `$OUT_DIR/dist`, which `src/lib.rs` embeds.
//!
//! - `GLASSBOX_UI_DIST=<dir>`: embed an already built UI (packagers, CI caches).
//! - `GLASSBOX_SKIP_UI=1`, or no `npm` on PATH: embed a placeholder page instead.
//! - otherwise: `npm ci` when `web/node_modules` is missing or older than the lockfile,
//!   then `npm run build` with the output in `$OUT_DIR/dist`.

use std::path::{Path, PathBuf};
use std::process::Command;

const PLACEHOLDER: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>glassbox</title></head>\
<body style=\"font-family:sans-serif;margin:3rem\"><h1>glassbox</h1>\
<p>The web UI was not built into this binary (GLASSBOX_SKIP_UI=1 or npm missing at build time).</p>\
<p>Build it with <code>cargo build --release -p glassbox-server</code> where Node.js 20.19+ and npm 11 are installed.</p>\
<p>The API is served under <code>/api/public</code>.</p></body></html>\n";

fn main() {
    println!("cargo:rerun-if-env-changed=GLASSBOX_SKIP_UI");
    println!("cargo:rerun-if-env-changed=GLASSBOX_UI_DIST");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dist = out_dir.join("dist");
    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let web = manifest_dir.join("../../web");

    if let Some(prebuilt) = std::env::var_os("GLASSBOX_UI_DIST") {
        let prebuilt = PathBuf::from(prebuilt);
        println!("cargo:rerun-if-changed={}", prebuilt.display());
        reset_dir(&dist);
        copy_dir(&prebuilt, &dist);
        return;
    }
    let skip = std::env::var("GLASSBOX_SKIP_UI").is_ok_and(|value| value == "1" || value == "true");
    if skip || !npm_available() || !web.join("package.json").exists() {
        if !skip {
            println!("cargo:warning=npm not found: the web UI is replaced by a placeholder page");
        }
        reset_dir(&dist);
        std::fs::write(dist.join("index.html"), PLACEHOLDER).expect("writing the placeholder page");
        return;
    }

    // Only paths that exist: a missing one makes cargo rerun this script on every build.
    for input in [
        "src",
        "public",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
    ] {
        let path = web.join(input);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }

    let lock = web.join("package-lock.json");
    let installed = web.join("node_modules/.package-lock.json");
    if !is_newer_or_same(&installed, &lock) {
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&web),
            "npm ci",
        );
    }
    run(
        Command::new("npm")
            .args(["run", "build", "--", "--outDir"])
            .arg(&dist)
            .arg("--emptyOutDir")
            .current_dir(&web),
        "npm run build",
    );
}

fn npm_available() -> bool {
    Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

fn is_newer_or_same(candidate: &Path, reference: &Path) -> bool {
    let modified = |path: &Path| {
        std::fs::metadata(path)
            .and_then(|meta| meta.modified())
            .ok()
    };
    match (modified(candidate), modified(reference)) {
        (Some(candidate), Some(reference)) => candidate >= reference,
        _ => false,
    }
}

fn run(command: &mut Command, what: &str) {
    let status = command
        .status()
        .unwrap_or_else(|error| panic!("{what} could not start: {error}"));
    assert!(
        status.success(),
        "{what} failed ({status}); set GLASSBOX_SKIP_UI=1 to build without the web UI"
    );
}

fn reset_dir(dir: &Path) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).expect("clearing the UI output directory");
    }
    std::fs::create_dir_all(dir).expect("creating the UI output directory");
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from)
        .unwrap_or_else(|error| panic!("reading {}: {error}", from.display()))
    {
        let entry = entry.expect("listing the prebuilt UI");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            std::fs::create_dir_all(&target).expect("creating a directory");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copying a UI file");
        }
    }
}
