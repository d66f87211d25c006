//! Syslog's transports: one RFC 5424 message over UDP, TCP or TLS (RFC 5425) per delivery.

use std::sync::Arc;

use crate::integrations;

/// One message to a syslog receiver: a datagram, or an octet-counted frame on a new TCP or TLS connection that is
/// flushed and closed (the message is delivered when the receiver's TCP stack has taken it).
pub(super) async fn send_syslog(target: &integrations::syslog::Target, message: &str) -> Result<(), String> {
    use integrations::syslog::{Transport, octet_counted};
    use tokio::io::AsyncWriteExt;
    let addr = (target.host.as_str(), target.port);
    let failed = |what: &str, e: &dyn std::fmt::Display| format!("{what} {}:{}: {e}", target.host, target.port);
    match target.transport {
        Transport::Udp => {
            let peer = tokio::net::lookup_host(addr)
                .await
                .map_err(|e| failed("resolving", &e))?
                .next()
                .ok_or_else(|| failed("resolving", &"no address"))?;
            let local: std::net::SocketAddr =
                if peer.is_ipv6() { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() } else { ([0, 0, 0, 0], 0).into() };
            let socket = tokio::net::UdpSocket::bind(local).await.map_err(|e| failed("opening a socket for", &e))?;
            socket.send_to(message.as_bytes(), peer).await.map_err(|e| failed("sending to", &e))?;
        }
        Transport::Tcp => {
            let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| failed("connecting to", &e))?;
            stream.write_all(&octet_counted(message)).await.map_err(|e| failed("sending to", &e))?;
            stream.shutdown().await.map_err(|e| failed("closing", &e))?;
        }
        Transport::Tls => {
            // Reading the roots is file I/O: off the runtime's workers.
            let ca_file = target.ca_file.clone();
            let config = tokio::task::spawn_blocking(move || syslog_tls_config(ca_file.as_deref()))
                .await
                .map_err(|e| e.to_string())??;
            let name = rustls_pki_types::ServerName::try_from(target.host.clone()).map_err(|e| failed("naming", &e))?;
            let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| failed("connecting to", &e))?;
            let mut stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| failed("TLS handshake with", &e))?;
            stream.write_all(&octet_counted(message)).await.map_err(|e| failed("sending to", &e))?;
            stream.shutdown().await.map_err(|e| failed("closing", &e))?;
        }
    }
    Ok(())
}

/// The client side of RFC 5425: the receiver's certificate checked against `ca_file`, else the system's roots.
fn syslog_tls_config(ca_file: Option<&str>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| format!("reading {path}: {e}"))? {
                let cert = cert.map_err(|e| format!("reading {path}: {e}"))?;
                roots.add(cert).map_err(|e| format!("{path}: {e}"))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // A system root rustls cannot parse is skipped, as every TLS client does.
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err("no trusted CA for the syslog receiver's certificate".to_owned());
    }
    Ok(Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth()))
}
