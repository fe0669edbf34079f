//! HTTPS (`--tls-cert`, `--tls-key`, cargo feature `tls`) end to end: a real
//! TLS handshake against the fixture certificate, then MCP over it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mcp_servers_tests::{DEADLINE, HttpServer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tls")
        .join(name)
}

/// One HTTP/1.1 exchange over TLS; returns the status line and the body.
async fn https(base: &str, request: String) -> (String, String) {
    let addr = base.strip_prefix("https://").expect("an https base URL");
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(fixture("cert.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(DEADLINE, tls.read_to_end(&mut response))
        .await
        .expect("an answer in time")
        .ok();
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

#[tokio::test]
async fn serves_mcp_over_https() {
    let cert = fixture("cert.pem");
    let key = fixture("key.pem");
    let server = HttpServer::spawn(
        Path::new(env!("CARGO_BIN_EXE_mcp-testserver")),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert!(server.base.starts_with("https://"), "{}", server.base);

    let (status, body) = https(
        &server.base,
        "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".into(),
    )
    .await;
    assert!(status.contains("200"), "{status}");
    let health: Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(health["name"], "mcp-testserver");

    let init = mcp_servers_tests::initialize_body(1).to_string();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Content-Length: {}\r\n\r\n{init}",
        init.len()
    );
    let (status, body) = https(&server.base, request).await;
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("\"serverInfo\""), "{body}");
}

#[test]
fn bad_certificate_paths_are_clear_errors() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-testserver"))
        .args(["--transport", "http", "--listen", "127.0.0.1:0"])
        .args([
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            "/nonexistent/key.pem",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/cert.pem"), "{stderr}");
}
