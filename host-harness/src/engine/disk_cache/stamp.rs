//! A file's identity (device, inode, size, mtime, ctime): what lets the cache trust a hash it
//! took earlier without reading the file again. See disk_cache.rs for why this is sound.

use std::fs::Metadata;
use std::time::Duration;

const STAMP_MAGIC: &str = "host-harness file stamp v1";
/// How old a `.wasm`'s last change must be for its hash to be remembered by file identity:
/// more than any filesystem's timestamp granularity (FAT: 2 s), so that a change after the
/// hash was taken cannot leave the same mtime and ctime behind.
const SETTLED: Duration = Duration::from_secs(3);

/// What identifies a file's contents without reading them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stamp {
    pub(super) dev: u64,
    pub(super) ino: u64,
    pub(super) size: u64,
    pub(super) mtime: (i64, i64),
    pub(super) ctime: (i64, i64),
}

impl Stamp {
    #[cfg(unix)]
    pub(super) fn of(meta: &Metadata) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        meta.is_file().then(|| Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })
    }

    /// Without a ctime to rely on, the `.wasm` is hashed on every start.
    #[cfg(not(unix))]
    pub(super) fn of(_meta: &Metadata) -> Option<Self> {
        None
    }

    /// Last changed at least [`SETTLED`] ago (by the system clock; a clock set back makes
    /// this false, which only costs a hash).
    pub(super) fn settled(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let last_change = self.mtime.0.max(self.ctime.0);
        // Whole seconds, rounded against us: the change may have been late in its second.
        now.saturating_sub(last_change) > SETTLED.as_secs().cast_signed()
    }

    pub(super) fn parse(line: &str) -> Option<Self> {
        let rest = line.strip_prefix(STAMP_MAGIC)?.strip_prefix(' ')?;
        let mut fields = rest.split(' ');
        let mut next = || fields.next();
        let time = |t: &str| -> Option<(i64, i64)> {
            let (s, ns) = t.split_once('.')?;
            Some((s.parse().ok()?, ns.parse().ok()?))
        };
        let stamp = Self {
            dev: next()?.parse().ok()?,
            ino: next()?.parse().ok()?,
            size: next()?.parse().ok()?,
            mtime: time(next()?)?,
            ctime: time(next()?)?,
        };
        next().is_none().then_some(stamp)
    }

    pub(super) fn line(&self) -> String {
        format!(
            "{STAMP_MAGIC} {} {} {} {}.{:09} {}.{:09}",
            self.dev, self.ino, self.size, self.mtime.0, self.mtime.1, self.ctime.0, self.ctime.1
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_read_back_as_written() {
        let stamp = Stamp {
            dev: 65024,
            ino: 5_923_733,
            size: 682_169,
            mtime: (1_795_379_173, 790_197_273),
            ctime: (1_795_384_284, 30_978_429),
        };
        assert_eq!(Stamp::parse(&stamp.line()), Some(stamp.clone()));
        assert_eq!(Stamp::parse(&format!("{} 1", stamp.line())), None);
        assert_eq!(Stamp::parse("host-harness file stamp v1 1 2 3 4.5"), None);
    }
}
