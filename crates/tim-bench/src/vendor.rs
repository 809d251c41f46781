//! The official SDK bundles, fetched once with `npm pack` into a cache folder.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A file of a published npm package used as a size reference.
#[derive(Debug, Clone, Copy)]
pub struct VendorFile {
    /// `name@version` as given to `npm pack`.
    pub spec: &'static str,
    /// The file inside the package (relative to the tarball's `package/`).
    pub file: &'static str,
}

/// The official bundles the SDK size row compares with.
pub const VENDOR_FILES: [VendorFile; 2] = [
    VendorFile {
        spec: "tim-js-sdk@2.27.6",
        file: "tim-js.js",
    },
    VendorFile {
        spec: "@tencentcloud/lite-chat@4.2.1",
        file: "basic.js",
    },
];

/// The path of `vf` in `cache`, fetching and unpacking the package when it is not there yet.
pub fn fetch(vf: VendorFile, cache: &Path) -> Result<PathBuf, String> {
    let dir = cache.join(vf.spec.replace(['/', '@'], "_"));
    let file = dir.join("package").join(vf.file);
    if file.is_file() {
        return Ok(file);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let out = Command::new("npm")
        .args(["pack", vf.spec, "--silent", "--pack-destination"])
        .arg(&dir)
        .current_dir(&dir)
        .output()
        .map_err(|e| format!("cannot run npm: {e}"))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.lines().find(|l| !l.trim().is_empty()).unwrap_or("npm pack failed");
        return Err(format!("npm pack {} failed (offline?): {why}", vf.spec));
    }
    let tarball = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .to_string();
    let status = Command::new("tar")
        .arg("xzf")
        .arg(dir.join(&tarball))
        .current_dir(&dir)
        .status()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    if !status.success() || !file.is_file() {
        return Err(format!("{} has no {}", vf.spec, vf.file));
    }
    Ok(file)
}
