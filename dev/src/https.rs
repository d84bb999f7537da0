//! HTTPS for the dev server, on a second loopback port: some products'
//! clients refuse an `http://` base URL (Cloudcraft's guide passes curl
//! `--proto '=https'`). A CA and a certificate for `localhost` and
//! `127.0.0.1` are made at start (rcgen, never reused across starts); the
//! CA is written to a file for the client to trust (`curl --cacert`,
//! `CURL_CA_BUNDLE`, `SSL_CERT_FILE`).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// The TLS acceptor and the PEM of the CA that signed its certificate.
pub struct Https {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub ca_pem: String,
}

/// A fresh CA and a leaf certificate for this machine's loopback names.
pub fn self_signed() -> Result<Https, Box<dyn std::error::Error>> {
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "account-onboarding dev CA");
    let ca = ca_params.self_signed(&ca_key)?;
    let leaf_key = rcgen::KeyPair::generate()?;
    let mut leaf_params = rcgen::CertificateParams::new(vec!["localhost".to_string()])?;
    leaf_params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key)?;
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )?;
    Ok(Https {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
        ca_pem: ca.pem(),
    })
}
