//! The TLS of every HTTP client of both binaries: Prometheus's `tls_config`
//! as a ureq connector over rustls.
//!
//! Why a connector of our own rather than ureq's TLS settings: those cannot
//! name the server differently from the URL (`server_name`, needed to scrape
//! by IP a board whose certificate names its host), cannot set protocol
//! versions, read the certificate files once, and panic on a certificate
//! that does not match its key. Here, as prometheus/common does, the CA,
//! certificate and key files are re-read when they change (checked at each
//! new connection), so a rotated client certificate needs no reload; a bad
//! file is an error on that connection, never a panic.

use std::fmt;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, TcpConnector,
    Transport, TransportAdapter,
};

use super::client::TlsClient;
use super::config::Pem;
use super::tls;

type Stamps = Vec<Option<(SystemTime, u64)>>;

/// The connector: TLS for `https://` URLs, with the client's settings.
pub struct ClientTls {
    tls: TlsClient,
    built: Mutex<Option<(Stamps, Arc<ClientConfig>)>>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls").field("tls", &self.tls).finish()
    }
}

impl ClientTls {
    /// A connector for `tls`.
    pub fn new(tls: TlsClient) -> ClientTls {
        ClientTls {
            tls,
            built: Mutex::new(None),
        }
    }

    fn files(&self) -> Vec<&PathBuf> {
        let mut v: Vec<&PathBuf> = self.tls.ca_file.iter().collect();
        if let Some((c, k)) = &self.tls.cert {
            v.push(c);
            v.push(k);
        }
        v
    }

    /// The rustls configuration, rebuilt when a file changed.
    pub fn config(&self) -> Result<Arc<ClientConfig>, String> {
        let stamps: Stamps = self
            .files()
            .iter()
            .map(|p| {
                let m = std::fs::metadata(p).ok()?;
                Some((m.modified().ok()?, m.len()))
            })
            .collect();
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((s, c)) = &*built {
            if *s == stamps {
                return Ok(c.clone());
            }
        }
        let c = Arc::new(build(&self.tls)?);
        *built = Some((stamps, c.clone()));
        Ok(c)
    }
}

/// Builds the rustls client configuration of `t`.
pub fn build(t: &TlsClient) -> Result<ClientConfig, String> {
    let provider = Arc::new(ring::default_provider());
    let versions = tls::versions(t.min_version, t.max_version);
    let b = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_config: {e}"))?;
    let b = if t.insecure_skip_verify {
        b.dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(
                provider.signature_verification_algorithms,
            )))
    } else {
        let roots = match &t.ca_file {
            Some(ca) => tls::roots(&Pem::File(ca.clone()))?,
            None => RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        };
        b.with_root_certificates(roots)
    };
    let mut cfg = match &t.cert {
        Some((cert, key)) => b
            .with_client_auth_cert(
                tls::certs(&Pem::File(cert.clone()))?,
                tls::key(&Pem::File(key.clone()))?,
            )
            .map_err(|e| format!("the client certificate and key do not make a pair: {e}"))?,
        None => b.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// An agent for a client: ureq's settings from `builder`, TCP, then this
/// TLS.
pub fn agent(
    builder: ureq::config::ConfigBuilder<ureq::typestate::AgentScope>,
    tls: &TlsClient,
) -> ureq::Agent {
    let connector = ().chain(TcpConnector::default()).chain(ClientTls::new(tls.clone()));
    ureq::Agent::with_parts(builder.build(), connector, DefaultResolver::default())
}

fn io_err(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ureq::Error {
    ureq::Error::Io(std::io::Error::other(e))
}

impl<In: Transport> Connector<In> for ClientTls {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails<'_>,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let cfg = self.config().map_err(io_err)?;
        let host = match &self.tls.server_name {
            Some(n) => n.clone(),
            None => details
                .uri
                .host()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
        };
        let name = ServerName::try_from(host.as_str())
            .map_err(|e| io_err(format!("{host:?} is not a server name: {e}")))?
            .to_owned();
        let mut conn = ClientConnection::new(cfg, name).map_err(io_err)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock).map_err(ureq::Error::Io)?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(TlsTransport {
            buffers,
            stream: StreamOwned { conn, sock },
        })))
    }
}

/// A TLS connection as a ureq transport.
pub struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsTransport")
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

/// `insecure_skip_verify`: any certificate; the handshake signature is
/// still checked.
#[derive(Debug)]
struct NoVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}
