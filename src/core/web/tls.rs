//! A web config's `tls_server_config` as a rustls server configuration.
//!
//! Go's `tls.ClientAuthType` values map onto rustls's client verifiers:
//! the verifying ones are webpki's, the two that ask for a certificate
//! without verifying it (`RequestClientCert`, `RequireAnyClientCert`) a
//! verifier that accepts any, as Go does. `client_allowed_sans` is checked
//! after verification against the leaf's DNS and IP SANs (webpki's name
//! check; e-mail and URI SANs, which Go also compares, are not read).
//! Cipher suites and curves filter ring's provider; as in Go, the suite
//! list applies to TLS 1.2 only.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{ring, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};

use super::config::{ClientAuth, Pem, TlsServer, TlsVersion};

/// Reads a PEM item's text (a file's, or inline).
pub(crate) fn pem_text(p: &Pem) -> Result<Vec<u8>, String> {
    match p {
        Pem::Inline(s) => Ok(s.as_bytes().to_vec()),
        Pem::File(path) => {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        }
    }
}

fn what(p: &Pem) -> String {
    match p {
        Pem::File(path) => path.display().to_string(),
        Pem::Inline(_) => "the inline PEM".into(),
    }
}

/// The certificates of a PEM item.
pub(crate) fn certs(p: &Pem) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = pem_text(p)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not PEM certificates: {e}", what(p)))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", what(p)));
    }
    Ok(certs)
}

/// The private key of a PEM item (PKCS#8, PKCS#1 or SEC1).
pub(crate) fn key(p: &Pem) -> Result<PrivateKeyDer<'static>, String> {
    let text = pem_text(p)?;
    // Never the key's text in an error.
    PrivateKeyDer::from_pem_slice(&text)
        .map_err(|e| format!("{}: no private key found: {e}", what(p)))
}

/// A root store of a CA bundle.
pub(crate) fn roots(p: &Pem) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    for c in certs(p)? {
        store
            .add(c)
            .map_err(|e| format!("{}: not a usable CA certificate: {e}", what(p)))?;
    }
    Ok(store)
}

/// ring's provider restricted to the config's suites and curves.
fn provider(t: &TlsServer) -> CryptoProvider {
    let mut p = ring::default_provider();
    if !t.cipher_suites.is_empty() {
        p.cipher_suites.retain(|s| {
            let name = format!("{:?}", s.suite());
            s.tls13().is_some() || t.cipher_suites.contains(&name)
        });
    }
    if !t.curves.is_empty() {
        let named: Vec<_> = t
            .curves
            .iter()
            .filter_map(|c| match c.as_str() {
                "X25519" => Some(ring::kx_group::X25519),
                "CurveP256" => Some(ring::kx_group::SECP256R1),
                "CurveP384" => Some(ring::kx_group::SECP384R1),
                _ => None,
            })
            .collect();
        p.kx_groups = named;
    }
    p
}

/// rustls's protocol versions from `min` to `max` (server and client).
pub(crate) fn versions(
    min: TlsVersion,
    max: TlsVersion,
) -> Vec<&'static rustls::SupportedProtocolVersion> {
    [
        (TlsVersion::Tls13, &rustls::version::TLS13),
        (TlsVersion::Tls12, &rustls::version::TLS12),
    ]
    .into_iter()
    .filter(|(v, _)| (min..=max).contains(v))
    .map(|(_, p)| p)
    .collect()
}

/// Builds the server configuration (reading the certificate, key and CA).
pub fn server_config(t: &TlsServer) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(provider(t));
    let versions = versions(t.min_version, t.max_version);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let algs = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ClientCertVerifier> = match t.client_auth {
        ClientAuth::None => WebPkiClientVerifier::no_client_auth(),
        ClientAuth::Request | ClientAuth::RequireAny => Arc::new(AnyClientCert {
            mandatory: t.client_auth == ClientAuth::RequireAny,
            algs,
        }),
        ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify => {
            let ca = t
                .client_ca
                .as_ref()
                .ok_or("client_auth_type needs client_ca_file")?;
            let b =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider.clone());
            let b = if t.client_auth == ClientAuth::VerifyIfGiven {
                b.allow_unauthenticated()
            } else {
                b
            };
            b.build().map_err(|e| format!("client_ca_file: {e}"))?
        }
    };
    let verifier = if t.client_allowed_sans.is_empty() {
        verifier
    } else {
        Arc::new(AllowedSans {
            inner: verifier,
            sans: t.client_allowed_sans.clone(),
        })
    };
    let mut cfg = builder
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&t.cert)?, key(&t.key)?)
        .map_err(|e| format!("the certificate and key do not make a pair: {e}"))?;
    // HTTP/1.1 only; clients offering h2 fall back to it.
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// `RequestClientCert` and `RequireAnyClientCert`: a certificate is asked
/// for (required with the latter) and not verified, as Go does. Its
/// handshake signature is still checked: the client holds the key.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algs: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// `client_allowed_sans`: the verified leaf must be valid for one of them.
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    sans: Vec<String>,
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let ok = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let ee = webpki::EndEntityCert::try_from(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        let allowed = self.sans.iter().any(|san| {
            ServerName::try_from(san.as_str())
                .is_ok_and(|name| ee.verify_is_valid_for_subject_name(&name).is_ok())
        });
        if allowed {
            Ok(ok)
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::CIPHER_SUITES;
    use super::*;

    #[test]
    fn every_allowed_suite_name_is_a_rustls_suite() {
        let names: Vec<String> = ring::default_provider()
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        for want in CIPHER_SUITES {
            // rustls names the TLS 1.3 suites TLS13_* (always on, as in Go).
            let tls13 = want
                .replace("TLS_AES", "TLS13_AES")
                .replace("TLS_CHACHA20", "TLS13_CHACHA20");
            assert!(names.contains(&tls13), "{want} not in {names:?}");
        }
    }
}
