//! The real server on port 0 over TLS with the collector's own CA: a client that pins only that CA can talk to it.

use std::sync::Arc;

use muster_collector::tls;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{Harness, TlsServer};

both!(serves_https_with_its_own_ca);

async fn serves_https_with_its_own_ca(h: Harness) {
    let server = TlsServer::start(&h);
    let (files, ca, addr) = (&server.files, &server.ca, server.addr);
    let mut roots = rustls::RootCertStore::empty();
    let ca_der = CertificateDer::from_pem_file(files.ca_cert()).unwrap();
    assert_eq!(tls::fingerprint(&ca_der), ca.sha256_fingerprint);
    roots.add(ca_der).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut stream = connector.connect(ServerName::try_from("127.0.0.1").unwrap(), tcp).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with(r#"{"status":"ok"}"#), "{answer}");

    server.stop().await;
}
