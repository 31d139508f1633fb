//! Precompiled components on disk, so a second run deserializes (about a millisecond) instead
//! of compiling (hundreds of milliseconds).
//!
//! Loading a precompiled component is `unsafe` in wasmtime: the bytes become executable machine
//! code, so they must be what `Component::serialize` produced for a compatible engine. This
//! cache only ever deserializes a file it wrote itself and can show it:
//! - the directory is created by the harness with mode 0700 and refused unless it belongs to
//!   the current user and no one else can write to it; entries are created 0600 (temporary
//!   file, then an atomic rename, so a reader never sees half a file);
//! - an entry's name and header carry the key: a SHA-256 over the wasmtime version, the
//!   engine's `precompile_compatibility_hash` (compiler, target, tunables, features) and the
//!   `.wasm`'s content hash, so a file for another component, wasmtime or engine `Config`
//!   is never picked up;
//! - the header carries the SHA-256 of the payload, checked before deserializing the very
//!   bytes that were checked (read into memory once, so the file cannot change in between).
//!
//! A miss of any kind (absent, foreign, corrupt, refused by wasmtime) just compiles again.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

const MAGIC: &[u8] = b"host-harness precompiled component v1\n";
const HEX_LEN: usize = 64;

/// `$XDG_CACHE_HOME/airflow-connector-harness`, else `~/.cache/airflow-connector-harness`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("airflow-connector-harness"))
}

#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    /// Creates `dir` if needed (mode 0700) and checks that only this user can write to it.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        create_private_dir(&dir)
            .with_context(|| format!("precompiled-component cache {}", dir.display()))?;
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cwasm"))
    }

    /// The component precompiled from `wasm` by a compatible engine, if this cache holds it.
    pub fn load(&self, engine: &Engine, wasm: &[u8]) -> Option<Component> {
        let key = cache_key(engine, wasm);
        let path = self.entry(&key);
        if !private_file(&path) {
            return None;
        }
        let bytes = std::fs::read(&path).ok()?;
        let payload = verified_payload(&bytes, &key)?;
        // SAFETY: `payload` is exactly what `save` below wrote from `Component::serialize`:
        // the file is in a directory only this user can write to, was created 0600 by this
        // user, its header names this engine's compatibility hash and this `.wasm`, and the
        // payload's SHA-256 matches the header. The bytes checked are the bytes loaded (no
        // second read). wasmtime itself re-checks version and configuration compatibility
        // and fails cleanly on a mismatch.
        unsafe { Component::deserialize(engine, payload) }.ok()
    }

    /// Stores `component` (compiled from `wasm` by `engine`) for the next run.
    pub fn save(&self, engine: &Engine, wasm: &[u8], component: &Component) -> Result<()> {
        let key = cache_key(engine, wasm);
        let payload = component.serialize().map_err(anyhow::Error::from)?;
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        file.write_all(MAGIC)?;
        file.write_all(key.as_bytes())?;
        file.write_all(b"\n")?;
        file.write_all(hex(&Sha256::digest(&payload)).as_bytes())?;
        file.write_all(b"\n")?;
        file.write_all(&payload)?;
        file.persist(self.entry(&key)).map_err(|e| e.error)?;
        Ok(())
    }
}

/// The payload after a header naming `key` and the payload's own hash, or None.
fn verified_payload<'a>(bytes: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let (stored_key, rest) = split_line(rest)?;
    let (stored_hash, payload) = split_line(rest)?;
    let ok =
        stored_key == key.as_bytes() && stored_hash == hex(&Sha256::digest(payload)).as_bytes();
    ok.then_some(payload)
}

fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let line = bytes.get(..HEX_LEN)?;
    let rest = bytes.get(HEX_LEN..)?.strip_prefix(b"\n")?;
    Some((line, rest))
}

/// Feeds what `Hash` writes into SHA-256, for wasmtime's compatibility hash.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        // Only `write` is used; the digest is read from the inner state.
        0
    }
}

fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    let mut hasher = ShaHasher(Sha256::new());
    hasher.write(MAGIC);
    hasher.write(super::WASMTIME_VERSION.as_bytes());
    hasher.write(b"\0");
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.write(&Sha256::digest(wasm));
    hex(&hasher.0.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        bail!("not a directory (a symbolic link is not accepted)");
    }
    if meta.uid() != current_uid() {
        bail!("owned by another user; use a directory of your own or --no-compile-cache");
    }
    if meta.permissions().mode() & 0o022 != 0 {
        bail!("writable by other users; `chmod 700` it or use --no-compile-cache");
    }
    Ok(())
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// A regular file of this user that no one else can write.
#[cfg(unix)]
fn private_file(path: &Path) -> bool {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    std::fs::symlink_metadata(path).is_ok_and(|m| {
        m.is_file() && m.uid() == current_uid() && m.permissions().mode() & 0o022 == 0
    })
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> bool {
    path.is_file()
}

#[cfg(unix)]
fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest valid component: the preamble alone (`\0asm`, component version 0xd).
    const EMPTY: &[u8] = b"\0asm\x0d\0\x01\0";

    fn wasm() -> Vec<u8> {
        EMPTY.to_vec()
    }

    /// Another valid component: the empty one with a custom section named `name`.
    fn with_custom_section(name: u8) -> Vec<u8> {
        let mut bytes = EMPTY.to_vec();
        bytes.extend_from_slice(&[0, 2, 1, name]);
        bytes
    }

    fn compiled(engine: &Engine, wasm: &[u8]) -> Component {
        Component::new(engine, wasm).unwrap()
    }

    #[test]
    fn second_load_is_served_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path().join("c")).unwrap();
        let engine = super::super::engine();
        let wasm = wasm();
        assert!(cache.load(engine, &wasm).is_none());
        cache.save(engine, &wasm, &compiled(engine, &wasm)).unwrap();
        assert!(cache.load(engine, &wasm).is_some());
        // Another component's bytes do not hit this entry.
        let other = with_custom_section(b'x');
        Component::new(engine, &other).unwrap();
        assert!(cache.load(engine, &other).is_none());
    }

    #[test]
    fn a_tampered_or_foreign_entry_is_never_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path()).unwrap();
        let engine = super::super::engine();
        let wasm = wasm();
        cache.save(engine, &wasm, &compiled(engine, &wasm)).unwrap();
        let entry = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
            .unwrap();
        let good = std::fs::read(&entry).unwrap();

        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        std::fs::write(&entry, &flipped).unwrap();
        assert!(cache.load(engine, &wasm).is_none(), "payload hash checked");

        // A raw .cwasm (no header of ours) under the right name is refused too.
        let raw = compiled(engine, &wasm).serialize().unwrap();
        std::fs::write(&entry, &raw).unwrap();
        assert!(cache.load(engine, &wasm).is_none(), "header required");

        std::fs::write(&entry, &good).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).unwrap();
            assert!(
                cache.load(engine, &wasm).is_none(),
                "world-writable refused"
            );
            std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert!(cache.load(engine, &wasm).is_some());
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = DiskCache::open(dir.path()).unwrap_err();
        assert!(
            format!("{err:#}").contains("writable by other users"),
            "{err:#}"
        );
    }

    #[test]
    fn keys_differ_by_component() {
        let engine = super::super::engine();
        assert_ne!(cache_key(engine, b"a"), cache_key(engine, b"b"));
        assert_eq!(cache_key(engine, b"a").len(), HEX_LEN);
    }
}
