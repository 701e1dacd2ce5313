//! Hot reload through the watcher: a file copied into the directory serves within
//! seconds without anyone calling `sync`, and dropping the watcher stops it.

mod common;

use std::fs;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use common::{dist, runtime};
use jobhost_runtime::{Registry, RegistryEvent};

/// Generous: the watcher settles for ~150 ms and rescans every 2 s; compiling is ~ms.
const WITHIN: Duration = Duration::from_secs(10);

#[test]
fn a_file_copied_in_is_picked_up_by_the_watcher() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Arc::new(Registry::new(runtime(), dir.path().to_path_buf()));
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let watcher = registry
        .watch(move |event| {
            let _ = tx.lock().unwrap().send(event);
        })
        .unwrap();

    // Ignored: not a .wasm file, and a dotfile.
    fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    fs::copy(dist().join("noop.wasm"), dir.path().join(".hidden.wasm")).unwrap();
    fs::copy(dist().join("echo.wasm"), dir.path().join("echo.wasm")).unwrap();
    match rx.recv_timeout(WITHIN).expect("no event from the watcher") {
        RegistryEvent::Loaded { plugin, replaced } => {
            assert_eq!(plugin.file_name(), "echo.wasm");
            assert!(replaced.is_none());
        }
        other => panic!("expected echo.wasm to load, got {other:?}"),
    }
    assert!(registry.get("echo").is_some());
    assert!(registry.get("noop").is_none(), "dotfiles are ignored");

    fs::remove_file(dir.path().join("echo.wasm")).unwrap();
    match rx.recv_timeout(WITHIN).expect("no event from the watcher") {
        RegistryEvent::Removed { file_name, .. } => assert_eq!(file_name, "echo.wasm"),
        other => panic!("expected echo.wasm to be removed, got {other:?}"),
    }
    assert!(registry.get("echo").is_none());

    drop(watcher);
    // The background thread ends once the watcher is gone, dropping the callback and so
    // disconnecting the channel (a thread still running would time out instead).
    assert!(matches!(
        rx.recv_timeout(WITHIN),
        Err(mpsc::RecvTimeoutError::Disconnected)
    ));
}
