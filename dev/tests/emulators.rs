//! The emulators answer on 127.0.0.1 and nowhere else: DynamoDB Local has
//! no host option of its own (our launcher binds its Jetty connectors), and
//! moto is started with `-H 127.0.0.1`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

fn port_of(variable: &str) -> u16 {
    let url = std::env::var(variable).expect("needs the emulators: run `make test`");
    url.rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

fn answers(address: IpAddr, port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::new(address, port), Duration::from_secs(2)).is_ok()
}

/// This machine's addresses other than loopback (from `hostname -I`, and
/// the source address of a route out, when there is one).
fn other_addresses() -> Vec<IpAddr> {
    let mut addresses: Vec<IpAddr> = std::process::Command::new("hostname")
        .arg("-I")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|a| a.parse().ok())
        .collect();
    if let Ok(socket) = std::net::UdpSocket::bind("0.0.0.0:0") {
        if socket.connect("192.0.2.1:9").is_ok() {
            if let Ok(local) = socket.local_addr() {
                addresses.push(local.ip());
            }
        }
    }
    addresses.retain(|a| !a.is_loopback() && !a.is_unspecified());
    addresses.sort();
    addresses.dedup();
    addresses
}

#[test]
fn emulators_listen_on_loopback_only() {
    for variable in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"] {
        let port = port_of(variable);
        assert!(
            answers(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            "{variable} answers on 127.0.0.1"
        );
        // Bound to 127.0.0.1 itself, not to the loopback network or all.
        assert!(
            !answers(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), port),
            "{variable}: port {port} answers on 127.0.0.2, so it is bound wider than 127.0.0.1"
        );
        for address in other_addresses() {
            assert!(
                !answers(address, port),
                "{variable}: port {port} answers on {address}"
            );
        }
    }
}
