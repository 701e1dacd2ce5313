//! What every end-to-end test needs: a fresh directory with its own SQLite database (or,
//! for `World::on_postgres`, a fresh PostgreSQL database) and plugins directory, the real `jobhost` binary as daemon and as CLI, the real plugins
//! from `plugins/dist`, and waiting on observable conditions (with a deadline, never a
//! fixed sleep standing in for a signal).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use jobhost_store::testing::TestDatabase;
use serde_json::Value;
use tempfile::TempDir;

pub const BINARY: &str = env!("CARGO_BIN_EXE_jobhost");

/// `plugins/dist`, built by `plugins/build.sh`.
pub fn dist() -> PathBuf {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/dist");
    assert!(
        dist.join("noop.wasm").exists(),
        "{} has no plugins: run plugins/build.sh first",
        dist.display()
    );
    dist
}

/// One test's world: a temp dir holding the database, the plugins dir and logs.
pub struct World {
    pub dir: TempDir,
    /// The database, when it is a PostgreSQL one rather than a file in `dir`; dropped
    /// (with whatever connections a killed daemon left) when the world is.
    postgres: Option<TestDatabase>,
}

impl World {
    pub fn new() -> World {
        World::with_database(None)
    }

    /// A world whose database is a fresh one on the test PostgreSQL server (see
    /// `jobhost_store::testing`).
    pub fn on_postgres() -> World {
        World::with_database(Some(TestDatabase::create()))
    }

    fn with_database(postgres: Option<TestDatabase>) -> World {
        let world = World {
            dir: tempfile::tempdir().expect("creating a temp dir"),
            postgres,
        };
        fs::create_dir_all(world.plugins()).unwrap();
        world
    }

    pub fn db(&self) -> String {
        match &self.postgres {
            Some(database) => database.url().to_string(),
            None => format!("sqlite://{}", self.dir.path().join("jobhost.db").display()),
        }
    }

    /// The world's PostgreSQL database; panics for a SQLite world.
    pub fn postgres(&self) -> &TestDatabase {
        self.postgres
            .as_ref()
            .expect("a world made with World::on_postgres")
    }

    pub fn plugins(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// Compiled plugins are cached across tests: the cache is keyed by content digest.
    fn cache_dir() -> PathBuf {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("jobhost-cache")
    }

    /// Copies `dist/<name>.wasm` (or `dist/<subpath>`) into the plugins directory,
    /// through a temporary name and a rename, as a careful deploy would.
    pub fn install(&self, dist_path: &str, as_name: &str) {
        let from = dist().join(dist_path);
        let staging = self.dir.path().join(format!(".staging-{as_name}"));
        fs::copy(&from, &staging).unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
        fs::rename(&staging, self.plugins().join(as_name)).unwrap();
    }

    pub fn install_plugin(&self, name: &str) {
        self.install(&format!("{name}.wasm"), &format!("{name}.wasm"));
    }

    fn command(&self) -> Command {
        let mut command = Command::new(BINARY);
        command
            .arg("--db")
            .arg(self.db())
            .arg("--plugins")
            .arg(self.plugins())
            .arg("--cache-dir")
            .arg(World::cache_dir())
            .env("JOBHOST_LOG", "info")
            .stdin(Stdio::null());
        command
    }

    /// Runs the CLI to completion.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("running jobhost")
    }

    /// Runs the CLI and returns its stdout, failing the test if it failed.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "jobhost {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn cli_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.cli_ok(&all);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {text}"))
    }

    pub fn enqueue(&self, job_type: &str, payload: &str, extra: &[&str]) -> String {
        let mut args = vec!["enqueue", job_type, payload];
        args.extend_from_slice(extra);
        self.cli_ok(&args).trim().to_string()
    }

    pub fn stats(&self) -> Value {
        self.cli_json(&["stats"])
    }

    pub fn job(&self, id: &str) -> Value {
        self.cli_json(&["jobs", "show", id])
    }

    pub fn dead(&self, id: &str) -> Value {
        self.cli_json(&["dlq", "show", id])
    }

    /// Starts `jobhost serve` with extra serve flags; its log goes to a file in the world.
    pub fn start_daemon(&self, serve_args: &[&str]) -> Daemon {
        let index = fs::read_dir(self.dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("daemon-")
            })
            .count();
        let log = self.dir.path().join(format!("daemon-{index}.log"));
        let mut args: Vec<&str> = vec!["serve"];
        for (flag, default) in [("--poll-interval", "50ms"), ("--grace", "5s")] {
            if !serve_args.contains(&flag) {
                args.extend([flag, default]);
            }
        }
        args.extend_from_slice(serve_args);
        let child = self
            .command()
            .args(&args)
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting jobhost serve");
        let mut daemon = Daemon { child, log };
        let start = Instant::now();
        while !daemon.log_text().contains("daemon ready") {
            if let Some(status) = daemon.child.try_wait().unwrap() {
                panic!(
                    "jobhost serve exited ({status}) before it was ready:\n{}",
                    daemon.log_text()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "jobhost serve not ready after 60 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        daemon
    }
}

impl World {
    /// Runs `jobhost serve` expecting it to refuse to start: returns its output once it
    /// exited, failing the test if it is still running after `timeout` (it started).
    pub fn serve_refused(&self, timeout: Duration) -> Output {
        let mut child = self
            .command()
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting jobhost serve");
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!("jobhost serve was expected to refuse to start, and ran for {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }
}

/// A `jobhost serve` process, killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn log_text(&self) -> String {
        let mut text = String::new();
        fs::File::open(&self.log)
            .and_then(|mut f| f.read_to_string(&mut text))
            .unwrap();
        text
    }

    /// Waits until the log holds `needle` at least `times` times.
    pub fn wait_for_log_count(&self, needle: &str, times: usize, timeout: Duration) {
        wait_until(
            &format!("{needle:?} {times}x in the daemon log"),
            timeout,
            || self.log_text().matches(needle).count() >= times,
        );
    }

    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        self.wait_for_log_count(needle, 1, timeout);
    }

    /// SIGTERM, then waits for the process to exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }

    /// SIGKILL: the process dies at once, mid-work.
    pub fn kill_hard(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `condition` until it holds, panicking with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn count(stats: &Value, field: &str) -> u64 {
    stats[field]
        .as_u64()
        .unwrap_or_else(|| panic!("stats has no {field}: {stats}"))
}
