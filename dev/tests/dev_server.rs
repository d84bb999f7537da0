//! The dev server as `make dev` runs it: emulators in, API out on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A bare HTTP/1.1 request; returns the status line and the body.
fn http(port: u16, request: &str) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.lines().next().unwrap_or("").to_string();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[test]
fn serves_the_api_with_a_bootstrapped_admin_key() {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "needs the emulators: run `make test`"
    );
    let port = free_port();
    let tls_port = free_port();
    let table = format!("dev-{port}");
    let ca_file = std::env::temp_dir().join(format!("dev-https-ca-{port}.pem"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_dev-server"))
        .env("PORT", port.to_string())
        .env("TLS_PORT", tls_port.to_string())
        .env("TLS_CA_FILE", &ca_file)
        .env("HEADER_TIMEOUT_MS", "700")
        .env("BODY_TIMEOUT_MS", "700")
        .env("TABLE_NAME", &table)
        .env("QUEUE_PREFIX", format!("devtest{port}"))
        .env_remove("DEV_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dev-server");
    let stdout = child.stdout.take().unwrap();
    let _server = Server(child);

    // Progress lines, then the key, then "listening".
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut key = None;
    let mut onboarding = None;
    let mut steps = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(found) = line.trim().strip_prefix("export API_KEY=") {
            key = Some(found.to_string());
        }
        if let Some(at) = line.find("/onboard/onb_default_111122223333_") {
            onboarding = Some(line[at..].trim().to_string());
        }
        if line.starts_with("==> ") {
            steps.push(line.clone());
        }
        if line.contains("API listening on http://127.0.0.1:") || Instant::now() > deadline {
            break;
        }
    }
    assert!(steps.len() >= 4, "a progress line per step: {steps:?}");
    let key = key.expect("the admin key is printed");
    assert!(key.starts_with("oak_default_"));

    // The sample account's onboarding page, as printed.
    let page = onboarding.expect("an onboarding link is printed");
    let (status, html) = http(
        port,
        &format!("GET {page} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    );
    assert!(status.contains("200"), "{status}");
    assert!(html.contains("Sample customer (dev)"));
    // make dev played the customer: the role is there, the check succeeds.
    let (status, _) = http(
        port,
        &format!("POST {page}/check HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    );
    assert!(status.contains("303"), "{status}");
    let (_, html) = http(
        port,
        &format!("GET {page} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    );
    assert!(html.contains("SUCCESS: the role works."), "{html}");

    let body = r#"{"account_id":"123456789013","name":"From curl"}"#;
    let (status, created) = http(
        port,
        &format!(
            "POST /v1/accounts HTTP/1.1\r\nHost: localhost\r\nX-API-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(status.contains("201"), "{status} {created}");

    // HTTPS on the second port, trusted through the CA file it wrote, as
    // a client that refuses http:// (curl --proto '=https') calls it.
    let curl = |url: &str, ca: &std::path::Path| {
        let out = Command::new("curl")
            .args([
                "--silent",
                "--proto",
                "=https",
                "--tlsv1.2",
                "-o",
                "/dev/null",
            ])
            .args(["-w", "%{http_code}", "--cacert"])
            .arg(ca)
            .args(["-H", &format!("Authorization: Bearer {key}"), url])
            .output()
            .expect("curl runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let accounts = format!("https://127.0.0.1:{tls_port}/aws/account");
    assert_eq!(curl(&accounts, &ca_file), "200");
    let localhost = format!("https://localhost:{tls_port}/v1/accounts");
    assert_eq!(curl(&localhost, &ca_file), "200");
    // Another CA is not trusted: the certificate is this server's own.
    let stranger = std::env::temp_dir().join(format!("other-ca-{port}.pem"));
    std::fs::write(&stranger, dev_server::https::self_signed().unwrap().ca_pem).unwrap();
    assert_eq!(curl(&accounts, &stranger), "000");
    let plain = Command::new("curl")
        .args(["--silent", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://127.0.0.1:{tls_port}/v1/openapi.json"))
        .output()
        .expect("curl runs");
    assert_eq!(
        String::from_utf8_lossy(&plain.stdout),
        "000",
        "no plain http there"
    );
    let _ = std::fs::remove_file(&stranger);
    let _ = std::fs::remove_file(&ca_file);
    let (status, listed) = http(
        port,
        &format!("GET /v1/accounts HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"),
    );
    assert!(status.contains("200"), "{status}");
    assert!(listed.contains("From curl"));
    let (status, _) = http(
        port,
        "GET /v1/accounts HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(status.contains("401"), "{status}");

    // A client that stalls mid-headers is cut off, not held.
    let started = Instant::now();
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stalled
        .write_all(b"GET /v1/accounts HTTP/1.1\r\nHost: loc")
        .unwrap();
    let mut answer = String::new();
    let _ = stalled.read_to_string(&mut answer);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "closed after {waited:?}: {answer:?}"
    );
    // One that stalls mid-body is answered 408.
    let started = Instant::now();
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stalled
        .write_all(
            format!("POST /v1/accounts HTTP/1.1\r\nHost: localhost\r\nX-API-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"acc").as_bytes(),
        )
        .unwrap();
    let mut answer = String::new();
    let _ = stalled.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
