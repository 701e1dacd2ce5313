//! Capabilities granted in a plugin's manifest, with the `webhook` example: outbound
//! HTTP to listed hosts only, a named secret for that plugin only, and a manifest that
//! is checked (an unknown key, an undefined secret). A receiver on loopback plays the
//! webhook's destination.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::support::{Daemon, World, wait_until};

const SECRET: &str = "s3cret-for-the-test";

struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

/// An HTTP server on 127.0.0.1 answering by path: `/ok` 200, `/busy` 503, else 410.
struct Receiver {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let Some(request) = read_request(&mut reader) else {
                    continue;
                };
                let status = match request.path.as_str() {
                    "/ok" => "200 OK",
                    "/busy" => "503 Service Unavailable",
                    _ => "410 Gone",
                };
                log.lock().unwrap().push(request);
                let answer =
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = reader.get_mut().write_all(answer.as_bytes());
            }
        });
        Receiver { port, received }
    }

    fn paths(&self) -> Vec<String> {
        let received = self.received.lock().unwrap();
        received.iter().map(|r| r.path.clone()).collect()
    }
}

fn read_request(reader: &mut impl BufRead) -> Option<Received> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        path,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

/// A world with the webhook plugin, its manifest (if any), and a secrets file.
fn webhook_world(manifest: Option<&str>) -> (World, String) {
    let world = World::new();
    if let Some(manifest) = manifest {
        std::fs::write(world.plugins().join("webhook.toml"), manifest).unwrap();
    }
    world.install_plugin("webhook");
    let secrets = world.plugins().parent().unwrap().join("secrets.toml");
    std::fs::write(&secrets, format!("WEBHOOK_SECRET = \"{SECRET}\"\n")).unwrap();
    (world, secrets.display().to_string())
}

fn start(world: &World, secrets: &str) -> Daemon {
    world.start_daemon(&["--secrets-file", secrets, "--backoff-base", "50ms"])
}

fn hook(url: String) -> String {
    serde_json::json!({ "url": url, "body": { "order": 42 } }).to_string()
}

fn wait_dead(world: &World, id: &str) -> Value {
    wait_until(
        "the job to be dead-lettered",
        Duration::from_secs(30),
        || world.cli(&["dlq", "show", id]).status.success(),
    );
    world.dead(id)["dead_letter"].clone()
}

const GRANTED: &str = "[capabilities]\nhttp = [\"127.0.0.1\"]\nsecrets = [\"WEBHOOK_SECRET\"]\n";

#[test]
fn a_granted_host_gets_a_signed_webhook_and_its_answer_decides_the_outcome() {
    let receiver = Receiver::start();
    let (world, secrets) = webhook_world(Some(GRANTED));
    let _daemon = start(&world, &secrets);
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", receiver.port);

    let ok = world.enqueue("webhook", &hook(url("/ok")), &[]);
    wait_until("the webhook to complete", Duration::from_secs(30), || {
        world.job(&ok)["job"]["status"] == "completed"
    });
    assert_eq!(world.job(&ok)["job"]["result"], r#"{"status":200}"#);
    {
        let received = receiver.received.lock().unwrap();
        let delivery = &received[0];
        assert_eq!(delivery.body, r#"{"order":42}"#);
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(delivery.body.as_bytes());
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(delivery.headers["x-jobhost-signature"], expected);
        assert_eq!(delivery.headers["x-jobhost-job-id"], ok);
    }

    let busy = world.enqueue("webhook", &hook(url("/busy")), &["--max-attempts", "2"]);
    assert_eq!(wait_dead(&world, &busy)["reason"], "max_retries_exceeded");
    let gone = world.enqueue("webhook", &hook(url("/gone")), &[]);
    let dead = wait_dead(&world, &gone);
    assert_eq!(dead["reason"], "permanent_failure");
    assert!(
        dead["last_error"].as_str().unwrap().contains("410"),
        "{dead}"
    );
    assert_eq!(receiver.paths(), ["/ok", "/busy", "/busy", "/gone"]);
}

#[test]
fn a_host_not_granted_is_refused_and_the_job_fails_for_good() {
    let receiver = Receiver::start();
    // The same server, by a name the manifest does not list.
    let (world, secrets) = webhook_world(Some(GRANTED));
    let _daemon = start(&world, &secrets);
    let id = world.enqueue(
        "webhook",
        &hook(format!("http://localhost:{}/ok", receiver.port)),
        &[],
    );
    let dead = wait_dead(&world, &id);
    assert_eq!(dead["reason"], "permanent_failure");
    let error = dead["last_error"].as_str().unwrap();
    assert!(
        error.contains("refused") && error.contains("localhost"),
        "{error}"
    );
    assert!(receiver.paths().is_empty(), "nothing reached the server");
}

#[test]
fn without_grants_a_plugin_has_no_network_and_no_secret() {
    let receiver = Receiver::start();
    let url = hook(format!("http://127.0.0.1:{}/ok", receiver.port));

    // The secret granted, the network not: the request is refused.
    let only_secret = "[capabilities]\nsecrets = [\"WEBHOOK_SECRET\"]\n";
    let (world, secrets) = webhook_world(Some(only_secret));
    let daemon = start(&world, &secrets);
    let dead = wait_dead(&world, &world.enqueue("webhook", &url, &[]));
    assert!(
        dead["last_error"].as_str().unwrap().contains("refused"),
        "{dead}"
    );
    drop(daemon);

    // No manifest: the daemon holds the secret, the plugin does not see it.
    let (world, secrets) = webhook_world(None);
    let _daemon = start(&world, &secrets);
    let dead = wait_dead(&world, &world.enqueue("webhook", &url, &[]));
    assert_eq!(dead["reason"], "permanent_failure");
    assert!(
        dead["last_error"]
            .as_str()
            .unwrap()
            .contains("WEBHOOK_SECRET secret is not granted"),
        "{dead}"
    );
    assert!(receiver.paths().is_empty());
}

#[test]
fn a_manifest_with_an_unknown_key_or_an_undefined_secret_is_refused() {
    for (manifest, named) in [
        ("[capabilities]\nhtp = [\"127.0.0.1\"]\n", "htp"),
        (
            "[capabilities]\nsecrets = [\"NOT_DEFINED\"]\n",
            "NOT_DEFINED",
        ),
        ("[capabilities]\nhttp = [\"http://x/y\"]\n", "http://x/y"),
    ] {
        let (world, secrets) = webhook_world(Some(manifest));
        let file = world.plugins().join("webhook.wasm");
        let out = world.cli(&[
            "--secrets-file",
            &secrets,
            "plugins",
            "check",
            file.to_str().unwrap(),
        ]);
        assert!(!out.status.success(), "{manifest} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("webhook.toml") && stderr.contains(named),
            "{stderr}"
        );
    }
}
