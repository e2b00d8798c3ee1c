//! Version, start-up and the default bind address.

use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crate::support::{Api, Server, command};

#[test]
fn version_flag_prints_the_package_version() {
    let output = command().arg("--version").output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("glassbox {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn an_empty_data_dir_becomes_healthy_quickly() {
    let data_dir = tempfile::tempdir().unwrap();
    // A directory that does not exist yet is created.
    let nested = data_dir.path().join("not").join("yet");
    let started = Instant::now();
    let mut server = Server::start(&nested, &[]);
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "healthy only after {elapsed:?}"
    );
    let health = Api::anonymous(server.port)
        .get("/api/public/health")
        .unwrap();
    assert_eq!(health.status, 200);
    let health = health.json();
    assert_eq!(health["status"], "OK");
    assert!(health["version"].is_string(), "{health}");
    assert!(nested.join("glassbox.sqlite").is_file());
    assert!(server.terminate().status.success());
}

/// A local non-loopback address of this machine, if it has one (no packet is sent:
/// connecting a UDP socket only picks a route).
fn non_loopback_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let address = socket.local_addr().ok()?.ip();
    (!address.is_loopback() && !address.is_unspecified()).then_some(address)
}

#[test]
fn binds_loopback_by_default() {
    let data_dir = tempfile::tempdir().unwrap();
    // `Server::start` passes no --host: the default applies, and 127.0.0.1 answers.
    let mut server = Server::start(data_dir.path(), &[]);
    let health = Api::anonymous(server.port)
        .get("/api/public/health")
        .unwrap();
    assert_eq!(health.status, 200);
    if let Some(address) = non_loopback_address() {
        let outside = SocketAddr::new(address, server.port);
        assert!(
            TcpStream::connect_timeout(&outside, Duration::from_secs(2)).is_err(),
            "the server accepts connections on {outside}"
        );
    }
    assert!(server.terminate().status.success());
}
