//! The HTTP client of deliveries, built so a tenant's URL cannot reach
//! what it must not:
//!
//! - every name is resolved here and each address checked against
//!   [`service::webhooks::is_forbidden_address`]; the connection goes to
//!   the checked addresses only, so a DNS answer that changes between a
//!   check and a connect (rebinding) cannot slip in;
//! - a literal address in the URL is checked the same way;
//! - no redirect is followed (hyper follows none) and no proxy is used;
//! - the whole exchange is bounded by [`SEND_TIMEOUT`], and at most
//!   [`MAX_RESPONSE_EXCERPT`] bytes of the answer are read.

use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use service::aws::deliveries::{AttemptOutcome, SendResult, MAX_RESPONSE_EXCERPT, SEND_TIMEOUT};
use service::webhooks::is_forbidden_address;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Turns a host name into addresses.
pub trait Lookup: Send + Sync {
    fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

/// The system's resolver (getaddrinfo, through tokio).
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|address| address.ip())
                .collect())
        })
    }
}

/// Fixed answers, as a hosts file gives them (the tests use it to make a
/// public-looking name resolve to a private address).
pub struct StaticLookup(pub HashMap<String, Vec<IpAddr>>);

impl Lookup for StaticLookup {
    fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let found = self.0.get(&host.to_ascii_lowercase()).cloned();
        Box::pin(async move {
            found.ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{host}: unknown name"),
                )
            })
        })
    }
}

/// A name resolved to an address no delivery may reach.
#[derive(Debug)]
pub struct ForbiddenAddress {
    pub host: String,
    pub address: IpAddr,
}

impl std::fmt::Display for ForbiddenAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "'{}' resolves to {}, which is not a public address; no request was made",
            self.host, self.address
        )
    }
}

impl std::error::Error for ForbiddenAddress {}

/// The connector's resolver: looks a name up and refuses it whole if any
/// of its addresses is forbidden.
#[derive(Clone)]
pub struct CheckedResolver {
    lookup: Arc<dyn Lookup>,
    allow_loopback: bool,
}

impl CheckedResolver {
    fn allowed(&self, address: IpAddr) -> bool {
        !is_forbidden_address(address) || (self.allow_loopback && address.is_loopback())
    }
}

impl tower::Service<Name> for CheckedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = BoxFuture<'static, std::io::Result<Self::Response>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolver = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addresses = resolver.lookup.lookup(host.clone()).await?;
            if let Some(&address) = addresses.iter().find(|a| !resolver.allowed(**a)) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    ForbiddenAddress { host, address },
                ));
            }
            if addresses.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{host}: no address"),
                ));
            }
            Ok(addresses
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 0))
                .collect::<Vec<_>>()
                .into_iter())
        })
    }
}

type Connector = hyper_rustls::HttpsConnector<HttpConnector<CheckedResolver>>;

/// The delivery client.
#[derive(Clone)]
pub struct HttpTransport {
    client: Client<Connector, Full<Bytes>>,
    resolver: CheckedResolver,
    timeout: Duration,
}

impl HttpTransport {
    /// With the system's resolver and trust roots.
    pub fn new(allow_loopback: bool) -> std::io::Result<Self> {
        Self::with_lookup(Arc::new(SystemLookup), allow_loopback)
    }

    pub fn with_lookup(lookup: Arc<dyn Lookup>, allow_loopback: bool) -> std::io::Result<Self> {
        use hyper_rustls::ConfigBuilderExt;
        let tls = rustls::ClientConfig::builder()
            .with_native_roots()?
            .with_no_client_auth();
        Ok(Self::with_tls(lookup, allow_loopback, tls))
    }

    /// With these TLS settings (the tests trust their own CA this way).
    pub fn with_tls(
        lookup: Arc<dyn Lookup>,
        allow_loopback: bool,
        tls: rustls::ClientConfig,
    ) -> Self {
        let resolver = CheckedResolver {
            lookup,
            allow_loopback,
        };
        let mut http = HttpConnector::new_with_resolver(resolver.clone());
        http.enforce_http(false);
        http.set_connect_timeout(Some(SEND_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        HttpTransport {
            client,
            resolver,
            timeout: SEND_TIMEOUT,
        }
    }

    async fn exchange(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), Failure> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|err| Failure::Connection(format!("not a URL: {err}")))?;
        // A literal address never reaches the resolver: check it here.
        let host = uri.host().unwrap_or("");
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(address) = literal.parse::<IpAddr>() {
            if !self.resolver.allowed(address) {
                return Err(Failure::Forbidden(
                    ForbiddenAddress {
                        host: host.to_string(),
                        address,
                    }
                    .to_string(),
                ));
            }
        }
        let mut request = hyper::Request::post(uri);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|err| Failure::Connection(err.to_string()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|err| classify(&err))?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut excerpt = Vec::new();
        while excerpt.len() < MAX_RESPONSE_EXCERPT {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        let room = MAX_RESPONSE_EXCERPT - excerpt.len();
                        excerpt.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
                // A body cut short still answered with its status.
                Some(Err(_)) | None => break,
            }
        }
        Ok((status, excerpt))
    }
}

enum Failure {
    Forbidden(String),
    Connection(String),
}

/// A client error as a failure: a forbidden address anywhere in its
/// causes, else a connection failure with the deepest cause's words.
fn classify(err: &(dyn std::error::Error + 'static)) -> Failure {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut last = err.to_string();
    while let Some(current) = cause {
        // An io::Error hides the error it wraps from `source()`.
        let wrapped = current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<ForbiddenAddress>());
        if let Some(forbidden) = current.downcast_ref::<ForbiddenAddress>().or(wrapped) {
            return Failure::Forbidden(forbidden.to_string());
        }
        last = current.to_string();
        cause = current.source();
    }
    Failure::Connection(last)
}

impl service::usecases::deliveries::Transport for HttpTransport {
    async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> SendResult {
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeout, self.exchange(url, headers, body)).await;
        let latency = started.elapsed();
        let failed = |outcome, error: String| SendResult {
            outcome,
            response_status: None,
            response_excerpt: None,
            error: Some(error),
            latency,
        };
        match result {
            Err(_) => failed(
                AttemptOutcome::Timeout,
                format!("no complete answer within {} s", self.timeout.as_secs()),
            ),
            Ok(Err(Failure::Forbidden(why))) => failed(AttemptOutcome::ForbiddenAddress, why),
            Ok(Err(Failure::Connection(why))) => failed(AttemptOutcome::ConnectionFailed, why),
            Ok(Ok((status, excerpt))) => {
                let delivered = (200..300).contains(&status);
                SendResult {
                    outcome: if delivered {
                        AttemptOutcome::Delivered
                    } else {
                        AttemptOutcome::HttpError
                    },
                    response_status: Some(status),
                    response_excerpt: (!excerpt.is_empty())
                        .then(|| String::from_utf8_lossy(&excerpt).into_owned()),
                    error: (!delivered).then(|| {
                        if (300..400).contains(&status) {
                            format!(
                                "answered {status}: redirects are not followed; give the final URL"
                            )
                        } else {
                            format!("answered {status}; a delivery needs a 2xx answer")
                        }
                    }),
                    latency,
                }
            }
        }
    }
}
