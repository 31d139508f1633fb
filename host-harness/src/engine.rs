//! The wasmtime engine and component loading, shared process-wide so a test binary compiles
//! the component once; optionally backed by an on-disk cache of precompiled components so a
//! second run maps the precompiled file instead of compiling again (hundreds of ms).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, Context, Result};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

mod disk_cache;

pub use disk_cache::{default_cache_dir, DiskCache, Lookup, WasmDigest};

/// The wasmtime this harness is built with (pinned `=` in host-harness/Cargo.toml; a unit test
/// keeps the two in step). Part of the precompiled-cache key.
pub const WASMTIME_VERSION: &str = "48.0.8";

/// The connector run when none is named: the workspace's example component (any other is picked
/// with `--connector NAME` or `--component PATH`).
pub const DEFAULT_CONNECTOR: &str = "airflow";

/// Where `make component` puts the workspace's components.
const COMPONENT_DIR: &str = "target/wasm32-wasip2/release";

/// The [`DEFAULT_CONNECTOR`]'s component in this workspace.
pub fn default_component_path() -> PathBuf {
    component_dir().join(component_file(DEFAULT_CONNECTOR))
}

/// The component of the connector `name` built in this workspace,
/// `target/wasm32-wasip2/release/<name>_connector.wasm` (`-` in `name` becomes `_`, as cargo
/// names the file). A name that is not a crate-name word is refused rather than joined to the
/// path, so it cannot point outside that folder.
pub fn component_path_for(name: &str) -> Result<PathBuf, String> {
    let word = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !word {
        return Err(format!(
            "`{name}` is not a connector name: expected lower-case letters, digits, `-` or `_` \
             (e.g. `{DEFAULT_CONNECTOR}` for {COMPONENT_DIR}/{}); give a file with --component PATH",
            component_file(DEFAULT_CONNECTOR)
        ));
    }
    Ok(component_dir().join(component_file(name)))
}

fn component_file(name: &str) -> String {
    format!("{}_connector.wasm", name.replace('-', "_"))
}

fn component_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .join(COMPONENT_DIR)
}

/// One engine per process: a component compiled by one engine only runs in that engine.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        // limits: guest code checks the epoch so a deadline can interrupt pure compute
        // (the ticker and per-store settings live in limits.rs and harness.rs).
        config.epoch_interruption(true);
        // `Config::new()` cannot fail with the features this crate enables; a failure here
        // would be a build misconfiguration, not a runtime condition.
        Engine::new(&config).unwrap_or_else(|e| panic!("wasmtime engine configuration: {e}"))
    })
}

/// The on-disk cache `load_component` uses; none (the default for library users, so tests
/// write nothing outside target/) until the CLI or an embedder sets one.
fn disk_cache_setting() -> &'static RwLock<Option<DiskCache>> {
    static SETTING: OnceLock<RwLock<Option<DiskCache>>> = OnceLock::new();
    SETTING.get_or_init(|| RwLock::new(None))
}

/// Use `cache` (or no disk cache) for the components loaded from now on.
pub fn set_disk_cache(cache: Option<DiskCache>) {
    *disk_cache_setting()
        .write()
        .unwrap_or_else(PoisonError::into_inner) = cache;
}

/// How a component came to be ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadSource {
    /// Already loaded earlier in this process.
    Memory,
    /// Deserialized from a precompiled file this harness wrote to its disk cache.
    Precompiled,
    /// Compiled from the `.wasm` (and, with a disk cache, saved for next time).
    Compiled,
}

#[derive(Debug, Clone, Copy)]
pub struct LoadReport {
    pub source: LoadSource,
    pub elapsed: Duration,
    /// Compiled, but the disk cache could not be written (the reason went to stderr).
    pub cache_write_failed: bool,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.elapsed.as_secs_f64() * 1000.0;
        match self.source {
            LoadSource::Memory => write!(f, "component already loaded ({ms:.2} ms)"),
            LoadSource::Precompiled => write!(f, "component loaded precompiled in {ms:.2} ms"),
            LoadSource::Compiled => write!(f, "component compiled in {ms:.2} ms"),
        }
    }
}

/// Identity of a file's contents for the in-memory cache: a rebuilt component is loaded again.
type CacheKey = (PathBuf, Option<SystemTime>, u64);

/// Load and compile a component, reusing an earlier compilation of the same unchanged file.
pub fn load_component(path: &Path) -> Result<Component> {
    load_component_traced(path).map(|(component, _)| component)
}

/// [`load_component`], also saying where the component came from and how long it took.
pub fn load_component_traced(path: &Path) -> Result<(Component, LoadReport)> {
    static CACHE: OnceLock<Mutex<HashMap<CacheKey, Component>>> = OnceLock::new();
    let started = Instant::now();
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(anyhow!(
                "component {} not found: build it with `make component` (or pass --component PATH)",
                path.display()
            ));
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let key = (canonical, meta.modified().ok(), meta.len());
    // The lock is held while compiling so that tests starting together compile once.
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(component) = cache.get(&key) {
        let report = LoadReport {
            source: LoadSource::Memory,
            elapsed: started.elapsed(),
            cache_write_failed: false,
        };
        return Ok((component.clone(), report));
    }
    let disk = disk_cache_setting()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let cannot_read = || format!("cannot read {}", path.display());
    let (component, source, cache_write_failed) = match &disk {
        // A hit reads neither the `.wasm` (its hash is remembered by file identity) nor the
        // entry (mapped): see disk_cache.rs.
        Some(disk) => match disk.load(engine(), path, &meta).with_context(cannot_read)? {
            Lookup::Hit(component) => (component, LoadSource::Precompiled, false),
            Lookup::Miss { wasm, digest } => {
                let component = compile(&wasm, path)?;
                let saved = disk.save(engine(), &digest, &component);
                if let Err(e) = &saved {
                    eprintln!(
                        "warning: cannot save the precompiled component in {}: {e:#}",
                        disk.dir().display()
                    );
                }
                (component, LoadSource::Compiled, saved.is_err())
            }
        },
        None => {
            let wasm = std::fs::read(path).with_context(cannot_read)?;
            (compile(&wasm, path)?, LoadSource::Compiled, false)
        }
    };
    cache.insert(key, component.clone());
    let report = LoadReport {
        source,
        elapsed: started.elapsed(),
        cache_write_failed,
    };
    Ok((component, report))
}

fn compile(wasm: &[u8], path: &Path) -> Result<Component> {
    Component::new(engine(), wasm)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot compile component {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_component_says_how_to_build_it() {
        let err = load_component(Path::new("/nonexistent/x.wasm")).unwrap_err();
        assert!(err.to_string().contains("make component"), "{err}");
    }

    #[test]
    fn default_path_is_in_the_workspace_target_dir() {
        let p = default_component_path();
        assert!(p.ends_with("target/wasm32-wasip2/release/airflow_connector.wasm"));
        assert!(p.starts_with(Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()));
    }

    #[test]
    fn a_connector_name_picks_its_component_in_the_workspace() {
        assert_eq!(
            component_path_for(DEFAULT_CONNECTOR).unwrap(),
            default_component_path()
        );
        let p = component_path_for("north-flank2").unwrap();
        assert!(p.ends_with("target/wasm32-wasip2/release/north_flank2_connector.wasm"));
        assert_eq!(p.parent(), default_component_path().parent());
        for bad in ["", "../x", "a/b", "Airflow", "x.wasm", "a b"] {
            let err = component_path_for(bad).unwrap_err();
            assert!(
                err.contains("is not a connector name") && err.contains("--component"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn invalid_component_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.wasm");
        std::fs::write(&path, b"not wasm").unwrap();
        let err = load_component(&path).unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot compile component"),
            "{err:#}"
        );
    }

    #[test]
    fn wasmtime_version_constant_matches_the_pin() {
        let manifest = include_str!("../Cargo.toml");
        let pin = format!("wasmtime = {{ version = \"={WASMTIME_VERSION}\"");
        assert!(
            manifest.contains(&pin),
            "update WASMTIME_VERSION to the pin"
        );
    }
}
