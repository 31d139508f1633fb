//! Precompiled components on disk, so a second run maps a file (about a millisecond) instead
//! of compiling (hundreds of milliseconds).
//!
//! Loading a precompiled component is `unsafe` in wasmtime: the bytes become executable machine
//! code, so they must be what `Component::serialize` produced for a compatible engine. This
//! cache only ever deserializes a file it wrote itself and can show it:
//! - the directory is created by the harness with mode 0700 and refused unless it belongs to
//!   the current user and no one else can write to it; entries are created 0600 (temporary
//!   file, then an atomic rename, so a reader never sees half a file) and refused unless they
//!   are regular files of this user that no one else can write (checked on the open file);
//! - an entry's name and trailer carry the key: a BLAKE3 hash over the wasmtime version, the
//!   engine's `precompile_compatibility_hash` (compiler, target, tunables, features) and the
//!   `.wasm`'s content hash, so a file for another component, wasmtime or engine `Config`
//!   is never picked up;
//! - the trailer carries the BLAKE3 hash of the payload (the serialized component), checked
//!   over a mapping of the open file before wasmtime maps the same file (same inode, through
//!   `/proc/self/fd`) and makes its code executable. The file's identity (device, inode, size,
//!   mtime, ctime) when it was written, or when its hash was checked and it had not changed for
//!   [`SETTLED`], is recorded beside it (`<key>.verified`, 0600); while the entry keeps that
//!   identity the entry is not hashed again on every start: changing a file's bytes
//!   moves its ctime, which only the kernel sets, and replacing it changes the inode.
//!
//! What this does not defend against: a writer with this user's rights (it could change the
//! file in place between the check and wasmtime's mapping, or within the clock tick after a
//! save); such a writer could as well change the harness binary, so this is not a boundary
//! the cache could hold. Entries are only ever replaced by rename, which leaves an open file
//! alone.
//!
//! The entry is the serialized component followed by the trailer (not preceded by a header):
//! wasmtime's `deserialize_file` needs the ELF image at offset 0 and ignores what follows it,
//! so the file can be mapped as it is (no read into a heap buffer, no copy).
//!
//! The `.wasm`'s content hash is remembered beside its file identity (device, inode, size,
//! mtime, ctime) in a small index file, so a warm start neither reads nor hashes the `.wasm`
//! (ccache's "direct mode" idea). The stored hash is trusted only when all five match, and is
//! recorded only for a file whose last change is at least [`SETTLED`] old: a later change
//! then necessarily moves the ctime, which no one but the kernel sets (`touch` cannot set
//! it back). A wrong index could only pick another entry this cache wrote itself (still
//! verified), never a foreign file.
//!
//! A miss of any kind (absent, foreign, corrupt, refused by wasmtime) just compiles again.

use std::fs::{File, Metadata};
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use stamp::Stamp;
use wasmtime::component::Component;
use wasmtime::Engine;

mod stamp;

/// Part of every key and of the trailer: a new layout never reads an old one's files.
const MAGIC: &[u8] = b"host-harness precompiled component v2\n";
const HEX_LEN: usize = 64;
/// MAGIC, the key, the payload hash, each hash followed by a newline.
const TRAILER_LEN: usize = MAGIC.len() + 2 * (HEX_LEN + 1);

/// `$XDG_CACHE_HOME/connector-harness`, else `~/.cache/connector-harness`: one cache for every
/// connector, since an entry's key is the component's content.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("connector-harness"))
}

#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
}

/// What [`DiskCache::load`] found.
pub enum Lookup {
    Hit(Component),
    /// Not cached: the `.wasm` was read (to hash it) and is here to compile, with the hash to
    /// pass to [`DiskCache::save`].
    Miss {
        wasm: Vec<u8>,
        digest: WasmDigest,
    },
}

/// The content hash of a `.wasm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WasmDigest(blake3::Hash);

impl WasmDigest {
    pub fn of(wasm: &[u8]) -> Self {
        Self(blake3::hash(wasm))
    }
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

    /// The component precompiled from the `.wasm` at `path` (whose metadata is `meta`) by a
    /// compatible engine if this cache holds it; else the `.wasm`'s bytes, to compile.
    pub fn load(&self, engine: &Engine, path: &Path, meta: &Metadata) -> std::io::Result<Lookup> {
        let stamp = Stamp::of(meta);
        if let Some(digest) = stamp.as_ref().and_then(|s| self.remembered(s)) {
            if let Some(component) = self.load_entry(engine, &cache_key(engine, &digest)) {
                return Ok(Lookup::Hit(component));
            }
        }
        let mut file = File::open(path)?;
        // The identity recorded is the open file's, taken before reading: if the file changes
        // while it is read, its ctime moves past the recorded one and the entry never matches.
        let stamp = file.metadata().ok().as_ref().and_then(Stamp::of);
        let mut wasm = Vec::new();
        file.read_to_end(&mut wasm)?;
        let digest = WasmDigest::of(&wasm);
        if let Some(stamp) = stamp.filter(Stamp::settled) {
            // Only a shortcut for next time: failing to record it costs a hash, nothing else.
            let _ = self.remember(&stamp, &digest);
        }
        match self.load_entry(engine, &cache_key(engine, &digest)) {
            Some(component) => Ok(Lookup::Hit(component)),
            None => Ok(Lookup::Miss { wasm, digest }),
        }
    }

    /// Stores `component` (compiled by `engine` from the `.wasm` hashed to `digest`) for the
    /// next run.
    pub fn save(&self, engine: &Engine, digest: &WasmDigest, component: &Component) -> Result<()> {
        let key = cache_key(engine, digest);
        let payload = component.serialize().map_err(anyhow::Error::from)?;
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        file.write_all(&payload)?;
        file.write_all(&trailer(&key, &payload))?;
        let file = file.persist(self.entry(&key)).map_err(|e| e.error)?;
        // The bytes are the ones just written: the next load need not hash them again. The
        // stamp is taken after the rename, which changes the ctime.
        if let Some(stamp) = file.metadata().ok().as_ref().and_then(Stamp::of) {
            let _ = self.record_verified(key.as_str(), &stamp);
        }
        Ok(())
    }

    fn load_entry(&self, engine: &Engine, key: &str) -> Option<Component> {
        let file = open_private(&self.entry(key))?;
        let stamp = file.metadata().ok().as_ref().and_then(Stamp::of);
        let verified_before = stamp
            .as_ref()
            .is_some_and(|s| self.verified(key).as_ref() == Some(s));
        if !verified_before {
            // SAFETY: a read-only mapping of a private file of this user; if it changed under
            // the mapping, the hash below would see other bytes (or wasmtime a different ELF),
            // not undefined behaviour in this process: the mapping is only read as bytes.
            let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.ok()?;
            verified_payload(&map, key)?;
            if let Some(stamp) = stamp.filter(Stamp::settled) {
                let _ = self.record_verified(key, &stamp);
            }
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            // The very file checked (not the path, which could have been renamed over since):
            // wasmtime maps it copy-on-write, with no read into memory and no copy.
            let same_file = format!("/proc/self/fd/{}", file.as_raw_fd());
            // SAFETY: as below.
            if let Ok(component) = unsafe { Component::deserialize_file(engine, &same_file) } {
                return Some(component);
            }
        }
        let mut bytes = Vec::new();
        (&file).read_to_end(&mut bytes).ok()?;
        let payload = verified_payload(&bytes, key)?;
        // SAFETY: the file is exactly what `save` above wrote from `Component::serialize`: it
        // is in a directory only this user can write to, is a regular file of this user that
        // no one else can write, its trailer names this engine's compatibility hash and this
        // `.wasm`, and its payload's BLAKE3 hash matches the trailer: checked just now (on the
        // very bytes deserialized here), or when it was written or last verified, since when
        // its device, inode, size, mtime and ctime have not changed. wasmtime itself re-checks
        // version and configuration compatibility and fails cleanly on a mismatch.
        unsafe { Component::deserialize(engine, payload) }.ok()
    }

    fn verified_record(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.verified"))
    }

    /// The identity the entry for `key` had when its payload hash was last checked.
    fn verified(&self, key: &str) -> Option<Stamp> {
        let mut text = String::new();
        open_private(&self.verified_record(key))?
            .take(512)
            .read_to_string(&mut text)
            .ok()?;
        Stamp::parse(text.strip_suffix('\n')?)
    }

    fn record_verified(&self, key: &str, stamp: &Stamp) -> Result<()> {
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        writeln!(file, "{}", stamp.line())?;
        file.persist(self.verified_record(key))
            .map_err(|e| e.error)?;
        Ok(())
    }

    fn index(&self, stamp: &Stamp) -> PathBuf {
        self.dir
            .join(format!("wasm-{:x}-{:x}.index", stamp.dev, stamp.ino))
    }

    /// The hash recorded for a `.wasm` with exactly this identity, if any.
    fn remembered(&self, stamp: &Stamp) -> Option<WasmDigest> {
        let mut text = String::new();
        open_private(&self.index(stamp))?
            .take(512)
            .read_to_string(&mut text)
            .ok()?;
        let (recorded, hash) = text.strip_suffix('\n')?.rsplit_once(' ')?;
        if recorded != stamp.line() {
            return None;
        }
        blake3::Hash::from_hex(hash).ok().map(WasmDigest)
    }

    fn remember(&self, stamp: &Stamp, digest: &WasmDigest) -> Result<()> {
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        writeln!(file, "{} {}", stamp.line(), digest.0.to_hex())?;
        file.persist(self.index(stamp)).map_err(|e| e.error)?;
        Ok(())
    }
}

fn trailer(key: &str, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(TRAILER_LEN);
    t.extend_from_slice(MAGIC);
    t.extend_from_slice(key.as_bytes());
    t.push(b'\n');
    t.extend_from_slice(blake3::hash(payload).to_hex().as_bytes());
    t.push(b'\n');
    t
}

/// The payload before a trailer naming `key` and the payload's own hash, or None.
fn verified_payload<'a>(bytes: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let split = bytes.len().checked_sub(TRAILER_LEN)?;
    let (payload, trailer) = bytes.split_at(split);
    let rest = trailer.strip_prefix(MAGIC)?;
    let (stored_key, rest) = split_line(rest)?;
    let (stored_hash, _) = split_line(rest)?;
    let stored_hash = blake3::Hash::from_hex(stored_hash).ok()?;
    // `blake3::Hash`'s equality is constant-time; not needed here, but free.
    (stored_key == key.as_bytes() && stored_hash == blake3::hash(payload)).then_some(payload)
}

fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let line = bytes.get(..HEX_LEN)?;
    let rest = bytes.get(HEX_LEN..)?.strip_prefix(b"\n")?;
    Some((line, rest))
}

/// Feeds what `Hash` writes into BLAKE3, for wasmtime's compatibility hash.
struct KeyHasher(blake3::Hasher);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        // Only `write` is used; the digest is read from the inner state.
        0
    }
}

fn cache_key(engine: &Engine, wasm: &WasmDigest) -> String {
    let mut hasher = KeyHasher(blake3::Hasher::new());
    hasher.write(MAGIC);
    hasher.write(super::WASMTIME_VERSION.as_bytes());
    hasher.write(b"\0");
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.write(wasm.0.as_bytes());
    hasher.0.finalize().to_hex().to_string()
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

/// `path` opened, if it is a regular file (not a symbolic link) of this user that no one else
/// can write. Checked on the open file, so the checks and the reads are about one file.
#[cfg(unix)]
fn open_private(path: &Path) -> Option<File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    let m = file.metadata().ok()?;
    (m.is_file() && m.uid() == current_uid() && m.permissions().mode() & 0o022 == 0).then_some(file)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> Option<File> {
    File::open(path)
        .ok()
        .filter(|f| f.metadata().is_ok_and(|m| m.is_file()))
}

#[cfg(unix)]
fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The smallest valid component: the preamble alone (`\0asm`, component version 0xd).
    const EMPTY: &[u8] = b"\0asm\x0d\0\x01\0";

    /// Another valid component: the empty one with a custom section named `name`.
    fn with_custom_section(name: u8) -> Vec<u8> {
        let mut bytes = EMPTY.to_vec();
        bytes.extend_from_slice(&[0, 2, 1, name]);
        bytes
    }

    fn engine() -> &'static Engine {
        super::super::engine()
    }

    /// A `.wasm` file in `dir`, with its metadata.
    fn wasm_file(dir: &Path, name: &str, bytes: &[u8]) -> (PathBuf, Metadata) {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        (path, meta)
    }

    fn is_hit(cache: &DiskCache, path: &Path) -> bool {
        let meta = std::fs::metadata(path).unwrap();
        matches!(cache.load(engine(), path, &meta).unwrap(), Lookup::Hit(_))
    }

    /// Compiles and saves on a miss, as `load_component` does.
    fn fill(cache: &DiskCache, path: &Path) {
        let meta = std::fs::metadata(path).unwrap();
        if let Lookup::Miss { wasm, digest } = cache.load(engine(), path, &meta).unwrap() {
            let component = Component::new(engine(), &wasm).unwrap();
            cache.save(engine(), &digest, &component).unwrap();
        }
    }

    fn entries(dir: &Path, extension: &str) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == extension))
            .collect()
    }

    /// Sets a file's mtime a minute back, as a copy keeping timestamps would; its ctime stays
    /// now, which no one but the kernel can set.
    #[cfg(unix)]
    fn age(path: &Path) {
        let old = std::time::SystemTime::now() - Duration::from_secs(60);
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }

    #[test]
    fn second_load_is_served_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path().join("c")).unwrap();
        let (path, meta) = wasm_file(dir.path(), "a.wasm", EMPTY);
        let Lookup::Miss { wasm, digest } = cache.load(engine(), &path, &meta).unwrap() else {
            panic!("empty cache hit");
        };
        assert_eq!(wasm, EMPTY);
        assert_eq!(digest, WasmDigest::of(EMPTY));
        let component = Component::new(engine(), &wasm).unwrap();
        cache.save(engine(), &digest, &component).unwrap();
        assert!(is_hit(&cache, &path));
        // Another component's bytes do not hit this entry.
        let (other, _) = wasm_file(dir.path(), "b.wasm", &with_custom_section(b'x'));
        assert!(!is_hit(&cache, &other));
    }

    #[test]
    fn the_entry_is_mapped_as_wasmtime_wrote_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path().join("c")).unwrap();
        let (path, _) = wasm_file(dir.path(), "a.wasm", EMPTY);
        fill(&cache, &path);
        let entry = &entries(cache.dir(), "cwasm")[0];
        // The trailer after the ELF image does not stop wasmtime mapping the file itself.
        unsafe { Component::deserialize_file(engine(), entry) }.unwrap();
    }

    #[test]
    fn a_tampered_or_foreign_entry_is_never_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path().join("c")).unwrap();
        let (path, _) = wasm_file(dir.path(), "a.wasm", EMPTY);
        fill(&cache, &path);
        let entry = entries(cache.dir(), "cwasm").remove(0);
        let good = std::fs::read(&entry).unwrap();
        // Past the clock tick of the save, so that the rewrite below moves the ctime (within
        // the tick it could not be told from the saved file: see the module's notes).
        std::thread::sleep(Duration::from_millis(50));

        let mut flipped = good.clone();
        flipped[good.len() - TRAILER_LEN - 1] ^= 1;
        std::fs::write(&entry, &flipped).unwrap();
        assert!(!is_hit(&cache, &path), "payload hash checked");

        // A raw .cwasm (no trailer of ours) under the right name is refused too.
        let raw = Component::new(engine(), EMPTY)
            .unwrap()
            .serialize()
            .unwrap();
        std::fs::write(&entry, &raw).unwrap();
        assert!(!is_hit(&cache, &path), "trailer required");

        // The right trailer for another key (another component's entry, renamed) is refused.
        let mut foreign = raw.clone();
        foreign.extend_from_slice(&trailer(&"0".repeat(HEX_LEN), &raw));
        std::fs::write(&entry, &foreign).unwrap();
        assert!(!is_hit(&cache, &path), "key checked");

        std::fs::write(&entry, &good).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).unwrap();
            assert!(!is_hit(&cache, &path), "world-writable refused");
            std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o600)).unwrap();

            // A symbolic link to a good entry is not followed.
            let elsewhere = dir.path().join("elsewhere.cwasm");
            std::fs::rename(&entry, &elsewhere).unwrap();
            std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
            assert!(!is_hit(&cache, &path), "symbolic link refused");
            std::fs::remove_file(&entry).unwrap();
            std::fs::rename(&elsewhere, &entry).unwrap();
        }
        assert!(is_hit(&cache, &path));
    }

    #[cfg(unix)]
    #[test]
    fn a_remembered_wasm_is_not_read_again_until_it_changes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path().join("c")).unwrap();
        let (a, _) = wasm_file(dir.path(), "a.wasm", &with_custom_section(b'x'));
        let (b, _) = wasm_file(dir.path(), "b.wasm", EMPTY);
        fill(&cache, &b);
        // Recording needs a ctime older than SETTLED, which a test cannot set: write the index
        // a settled a.wasm would have, but naming b's hash. a's own bytes have no entry, so a
        // hit proves the hash came from the index, without reading a.wasm.
        let stamp = Stamp::of(&std::fs::metadata(&a).unwrap()).unwrap();
        cache.remember(&stamp, &WasmDigest::of(EMPTY)).unwrap();
        let index = entries(cache.dir(), "index").remove(0);
        let mode = std::fs::metadata(&index).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(is_hit(&cache, &a), "served through the index");

        // Rewritten in place with other bytes of the same size, and its mtime put back: the
        // ctime moved (past the clock's tick), so the index no longer matches and the new
        // bytes are hashed (no entry for them: a miss).
        std::thread::sleep(Duration::from_millis(50));
        let mtime = std::fs::metadata(&a).unwrap().modified().unwrap();
        std::fs::write(&a, with_custom_section(b'y')).unwrap();
        File::options()
            .write(true)
            .open(&a)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let now = Stamp::of(&std::fs::metadata(&a).unwrap()).unwrap();
        assert_eq!(
            (now.ino, now.size, now.mtime),
            (stamp.ino, stamp.size, stamp.mtime)
        );
        assert_ne!(now.ctime, stamp.ctime);
        assert!(
            !is_hit(&cache, &a),
            "changed .wasm hashed again, not served"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_saved_entry_is_recorded_as_verified_and_a_changed_one_is_hashed_again() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path().join("c")).unwrap();
        let (path, _) = wasm_file(dir.path(), "a.wasm", EMPTY);
        fill(&cache, &path);
        let entry = entries(cache.dir(), "cwasm").remove(0);
        let key = entry.file_stem().unwrap().to_str().unwrap().to_string();
        let stamp = Stamp::of(&std::fs::metadata(&entry).unwrap()).unwrap();
        assert_eq!(cache.verified(&key), Some(stamp.clone()));
        let record = cache.verified_record(&key);
        let mode = std::fs::metadata(&record).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(is_hit(&cache, &path));

        // Same size, one payload byte flipped, past the save's clock tick: the identity no
        // longer matches the record, so the hash is checked, and fails.
        std::thread::sleep(Duration::from_millis(50));
        let mut flipped = std::fs::read(&entry).unwrap();
        flipped[0x100] ^= 1;
        std::fs::write(&entry, &flipped).unwrap();
        assert_ne!(
            Stamp::of(&std::fs::metadata(&entry).unwrap()),
            Some(stamp.clone())
        );
        assert!(!is_hit(&cache, &path), "changed entry hashed again");

        // A record others can write is not believed; garbage is no record.
        std::fs::set_permissions(&record, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(cache.verified(&key), None);
        std::fs::write(&record, "nonsense\n").unwrap();
        std::fs::set_permissions(&record, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(cache.verified(&key), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_stale_or_foreign_index_is_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path().join("c")).unwrap();
        let (a, _) = wasm_file(dir.path(), "a.wasm", EMPTY);
        let (b, _) = wasm_file(dir.path(), "b.wasm", &with_custom_section(b'b'));
        fill(&cache, &a);
        fill(&cache, &b);
        // An index claiming that b.wasm is a.wasm, with another identity: not used.
        let stamp_b = Stamp::of(&std::fs::metadata(&b).unwrap()).unwrap();
        let mut stale = stamp_b.clone();
        stale.ctime.1 = (stale.ctime.1 + 1) % 1_000_000_000;
        let index = cache.index(&stamp_b);
        std::fs::write(
            &index,
            format!("{} {}\n", stale.line(), WasmDigest::of(EMPTY).0.to_hex()),
        )
        .unwrap();
        assert_eq!(cache.remembered(&stamp_b), None);
        // The same claim with b's exact identity but writable by others: not used either.
        std::fs::write(
            &index,
            format!("{} {}\n", stamp_b.line(), WasmDigest::of(EMPTY).0.to_hex()),
        )
        .unwrap();
        std::fs::set_permissions(&index, std::fs::Permissions::from_mode(0o622)).unwrap();
        assert_eq!(cache.remembered(&stamp_b), None);
        std::fs::set_permissions(&index, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(cache.remembered(&stamp_b), Some(WasmDigest::of(EMPTY)));
        // Garbage is a miss, not a panic.
        std::fs::write(&index, "nonsense").unwrap();
        assert_eq!(cache.remembered(&stamp_b), None);
    }

    #[test]
    fn a_recently_changed_wasm_is_not_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path().join("c")).unwrap();
        let (path, _) = wasm_file(dir.path(), "a.wasm", EMPTY);
        #[cfg(unix)]
        age(&path);
        fill(&cache, &path);
        assert!(is_hit(&cache, &path));
        // Its ctime is now: a change within the same clock tick could keep every field.
        assert!(entries(cache.dir(), "index").is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn settled_means_old_enough() {
        let meta = std::fs::metadata(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
        let mut stamp = Stamp::of(&meta.unwrap()).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .cast_signed();
        stamp.mtime.0 = now - 60;
        stamp.ctime.0 = now - 60;
        assert!(stamp.settled());
        stamp.ctime.0 = now - 1;
        assert!(!stamp.settled(), "recent ctime");
        stamp.ctime.0 = now - 60;
        stamp.mtime.0 = now + 5;
        assert!(!stamp.settled(), "mtime in the future");
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
        let (a, b) = (WasmDigest::of(b"a"), WasmDigest::of(b"b"));
        assert_ne!(cache_key(engine(), &a), cache_key(engine(), &b));
        assert_eq!(cache_key(engine(), &a).len(), HEX_LEN);
    }
}
