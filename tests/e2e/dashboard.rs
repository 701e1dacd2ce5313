//! The dashboard in a real browser: headless Chromium driven over WebDriver
//! (`/usr/bin/chromedriver`, Debian's `chromium` and `chromium-driver`; `.ci/run`
//! installs them) by fantoccini. The page of a real daemon shows the pending count
//! change after a `jobhost enqueue`, replays a dead letter when its Replay button is
//! clicked (checked through the CLI), and under a bearer token asks for the token and
//! then works.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::operations::{api_addr, wait_dead_count};
use crate::support::{World, wait_until};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const DEADLINE: Duration = Duration::from_secs(60);
/// The page reads the API this often in the tests (its default is 3 s).
const REFRESH: &str = "?refresh=300";

/// A chromedriver process on a free port, killed when dropped, and the fresh profile
/// directory Chromium gets.
struct Driver {
    child: Child,
    port: u16,
    profile: TempDir,
}

impl Driver {
    fn start() -> Driver {
        for binary in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: apt-get install -y chromium chromium-driver (.ci/run does)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        wait_until("chromedriver listening", DEADLINE, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Driver {
            child,
            port,
            profile: tempfile::tempdir().unwrap(),
        }
    }

    /// A headless Chromium session. Without the background-networking flags Chromium
    /// waits on services a closed network never answers.
    async fn browser(&self) -> Client {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            &format!("--user-data-dir={}", self.profile.path().display()),
        ];
        let capabilities = json!({
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("starting a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the element's text is `expected`.
async fn wait_text(browser: &Client, id: &str, expected: &str) {
    let start = Instant::now();
    loop {
        let text = match browser.find(Locator::Id(id)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text == expected {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "#{id} still says {text:?}, not {expected:?}, after {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_contains(browser: &Client, id: &str, needle: &str) {
    let start = Instant::now();
    loop {
        let text = browser
            .find(Locator::Id(id))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains(needle) {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "#{id} never showed {needle:?}; it says {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Clicks the element once it is there (a refresh may have replaced it meanwhile).
async fn click(browser: &Client, id: &str) {
    let start = Instant::now();
    loop {
        let clicked = match browser.find(Locator::Id(id)).await {
            Ok(element) => element.click().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match clicked {
            Ok(()) => return,
            Err(e) => assert!(start.elapsed() < DEADLINE, "could not click #{id}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn the_dashboard_shows_the_queue_live_and_replays_a_dead_letter_on_a_click() {
    let world = World::new();
    world.install_plugin("reject");
    world.install_plugin("echo");
    world.cli_ok(&["cron", "add", "yearly", "0 3 1 1 *", "echo"]);
    let daemon = world.start_daemon(&["--http", "127.0.0.1:0"]);
    let addr = api_addr(&daemon);
    let dead = world.enqueue("reject", r#"{"reason":"for the dashboard"}"#, &[]);
    wait_dead_count(&world, 1);
    // Paused, so what is enqueued (and replayed) stays pending where it can be seen.
    world.cli_ok(&["queues", "pause", "default"]);

    let driver = Driver::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let browser = driver.browser().await;
        browser
            .goto(&format!("http://{addr}/{REFRESH}"))
            .await
            .unwrap();
        wait_text(&browser, "pending", "0").await;
        wait_contains(&browser, "plugins", "reject").await;
        wait_contains(&browser, "cron", "yearly").await;
        wait_contains(&browser, "dlq", "for the dashboard").await;
        assert!(browser.find(Locator::Css("#chart")).await.is_ok());

        world.enqueue("echo", "{}", &[]);
        wait_text(&browser, "pending", "1").await;

        click(&browser, &format!("replay-{dead}")).await;
        wait_contains(&browser, "message", &format!("replayed {dead} as job")).await;
        wait_text(&browser, "pending", "2").await;
        browser.close().await.unwrap();
    });

    let row = &world.dead(&dead)["dead_letter"];
    assert_eq!(row["resurrection_count"], 1, "{row}");
    let new_job = row["replayed_job_id"].as_str().unwrap();
    let job = &world.job(new_job)["job"];
    assert_eq!(
        (&job["job_type"], &job["status"]),
        (&Value::from("reject"), &Value::from("pending"))
    );
}

#[test]
fn under_a_token_the_dashboard_asks_for_it_and_then_works() {
    let world = World::new();
    world.install_plugin("echo");
    let token = "dashboard-t0ken";
    let daemon = world.start_daemon(&["--http", "0.0.0.0:0", "--http-token", token]);
    let port = api_addr(&daemon).rsplit(':').next().unwrap().to_string();
    world.cli_ok(&["queues", "pause", "default"]);
    world.enqueue("echo", "{}", &[]);

    let driver = Driver::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let browser = driver.browser().await;
        browser
            .goto(&format!("http://127.0.0.1:{port}/dashboard{REFRESH}"))
            .await
            .unwrap();
        wait_text(&browser, "health", "token needed").await;
        let input = browser.find(Locator::Id("token")).await.unwrap();
        input.send_keys(token).await.unwrap();
        browser
            .find(Locator::Id("login-button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_text(&browser, "pending", "1").await;
        browser.close().await.unwrap();
    });
    assert!(!daemon.log_text().contains(token));
}
