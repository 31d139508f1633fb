//! The wasmtime engine and component loading, shared process-wide so a test binary compiles
//! the component once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

use anyhow::{anyhow, Context, Result};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// `target/wasm32-wasip2/release/airflow_connector.wasm` of this workspace.
pub fn default_component_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .join("target/wasm32-wasip2/release/airflow_connector.wasm")
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

/// Identity of a file's contents for the cache: a rebuilt component is compiled again.
type CacheKey = (PathBuf, Option<SystemTime>, u64);

/// Load and compile a component, reusing an earlier compilation of the same unchanged file.
pub fn load_component(path: &Path) -> Result<Component> {
    static CACHE: OnceLock<Mutex<HashMap<CacheKey, Component>>> = OnceLock::new();
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
        return Ok(component.clone());
    }
    let component = Component::from_file(engine(), path)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot compile component {}", path.display()))?;
    cache.insert(key, component.clone());
    Ok(component)
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
}
