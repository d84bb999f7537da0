//! The local development server: the same code Lambda runs, on this machine.
//!
//! Creates the table and queues (from the definitions `template.yaml` uses),
//! bootstraps tenant `default` with an admin key, serves the API on
//! 127.0.0.1, polls the scan queue into the scan worker, runs the
//! verifier on a short interval, follows the table's stream into events
//! (audit log, the EventBridge bus in moto, webhook jobs) and delivers
//! webhooks from the delivery queue, and runs organization syncs from their
//! queue (queued on demand by the API and by the verifier's schedule). The
//! emulators are started by `make dev`.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use clap::Parser;
use service::api_key::{ApiKey, Scope};
use service::aws::store::Store;
use service::time::Timestamp;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

const DEV_TENANT: &str = "default";

#[derive(Parser)]
#[command(about = "Run the API, scan worker and verifier against the local emulators")]
struct Args {
    #[arg(long, env = "PORT", default_value_t = 3000)]
    port: u16,
    /// Queues are named <prefix>-<logical id in template.yaml>.
    #[arg(long, env = "QUEUE_PREFIX", default_value = "dev")]
    queue_prefix: String,
    /// Seconds between verifier sweeps.
    #[arg(long, env = "VERIFIER_INTERVAL_SECONDS", default_value_t = 30)]
    verifier_interval: u64,
    /// Seconds before a failed scan job is delivered again.
    #[arg(long, env = "SCAN_RETRY_DELAY_SECONDS", default_value_t = 10)]
    scan_retry_delay: u64,
    /// Use this admin key for tenant `default` instead of generating one.
    #[arg(long, env = "DEV_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Also write the admin key to this file (for scripts).
    #[arg(long, env = "DEV_API_KEY_FILE")]
    api_key_file: Option<std::path::PathBuf>,
    /// Every setting the functions take, from the same variables.
    #[command(flatten)]
    config: service::runtime::config::Config,
    /// Milliseconds a client may take to send a request's headers; past
    /// it the connection is closed (API Gateway does the same in AWS).
    #[arg(long, env = "HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Also serve HTTPS on this loopback port (a certificate made at start),
    /// for clients that refuse an http:// base URL.
    #[arg(long, env = "TLS_PORT")]
    tls_port: Option<u16>,
    /// Where the CA of the HTTPS certificate is written, for clients to trust.
    #[arg(long, env = "TLS_CA_FILE", default_value = ".local/dev/https-ca.pem")]
    tls_ca_file: std::path::PathBuf,
    /// Milliseconds a client may take to send a request's body (408 past it).
    #[arg(long, env = "BODY_TIMEOUT_MS", default_value_t = 30_000)]
    body_timeout_ms: u64,
}

fn step(message: &str) {
    println!("==> {message}");
}

#[tokio::main]
async fn main() {
    if let Err(err) = run(Args::parse()).await {
        eprintln!("dev server failed: {err}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    service::runtime::telemetry::init(service::runtime::telemetry::LogFormat::Compact);
    let mut config = args.config.clone();
    // A receiver on this machine may take webhooks over plain http.
    config.webhook_allow_loopback_http = true;
    // Links name the address this server listens on, unless told otherwise.
    if config.public_url.is_none() {
        config.public_url = Some(format!("http://127.0.0.1:{}", args.port));
    }
    let sqs = aws_sdk_sqs::Client::new(&service::runtime::config::aws().await);
    let table = config.table_name.clone();
    let dynamodb = aws_sdk_dynamodb::Client::new(&service::runtime::config::aws().await);

    step(&format!("creating table '{table}' (as in template.yaml)"));
    testkit::provision::create_table(&dynamodb, &table).await?;
    step(&format!(
        "creating queues '{}-*' (as in template.yaml)",
        args.queue_prefix
    ));
    let queues = testkit::provision::create_queues(&sqs, &args.queue_prefix).await?;
    let scan_queue = queues[service::aws::schema::SCAN_QUEUE.logical_id].clone();
    config.scan_queue_url = Some(scan_queue.clone());
    let webhooks = &service::aws::schema::WEBHOOK_QUEUE;
    config.webhook_queue_url = Some(queues[webhooks.logical_id].clone());
    config.webhook_dead_letter_queue_url = Some(queues[webhooks.dead_letter_logical_id].clone());
    let organization_syncs =
        queues[service::aws::schema::ORGANIZATION_SYNC_QUEUE.logical_id].clone();
    config.organization_sync_queue_url = Some(organization_syncs.clone());
    let bus = config
        .event_bus_name
        .get_or_insert_with(|| format!("{}-events", args.queue_prefix))
        .clone();
    step(&format!("creating event bus '{bus}' (as in template.yaml)"));
    let eventbridge = aws_sdk_eventbridge::Client::new(&service::runtime::config::aws().await);
    testkit::provision::create_event_bus(&eventbridge, &bus).await?;
    // The composition root every function uses, on the local queue.
    // A sweep every interval must be able to verify an account in it.
    let interval = Duration::from_secs(args.verifier_interval.max(1));
    let settings = config.verification();
    if settings.sweep_budget(interval).is_none() {
        return Err(format!(
            "VERIFIER_INTERVAL_SECONDS={} is too short to verify an account: one verification may take {} s (VERIFY_CALL_TIMEOUT_MS x (VERIFY_MAX_ATTEMPTS + 1)); lengthen the interval or shorten the calls",
            args.verifier_interval,
            settings.longest_verification().as_secs()
        )
        .into());
    }
    let services = service::runtime::config::Services::new(config).await?;
    let store = services.store.clone();
    let token = bootstrap_admin_key(&store, args.api_key.as_deref()).await?;
    if let Some(path) = &args.api_key_file {
        std::fs::write(path, format!("{token}\n"))?;
    }
    step(&format!(
        "tenant '{DEV_TENANT}' admin key (read,write,execute,admin):"
    ));
    println!("\n    export API_KEY={token}\n");

    let worker = service::usecases::scan_run::ScanRunner::new(&services);
    tokio::spawn(poll_scan_queue(
        worker,
        sqs.clone(),
        scan_queue.clone(),
        Duration::from_secs(args.scan_retry_delay),
    ));
    let sweeper = service::usecases::sweep::Sweeper::new(&services);
    tokio::spawn(run_verifier(sweeper, interval));

    let streams = aws_sdk_dynamodbstreams::Client::new(&service::runtime::config::aws().await);
    let reader = testkit::stream::StreamReader::open(&dynamodb, streams, &table).await?;
    tokio::spawn(follow_stream(
        reader,
        service::usecases::notify::Notify::new(&services),
    ));
    if let Some(sender) = webhook_sender::Sender::new(&services)? {
        tokio::spawn(deliver_webhooks(sender, sqs.clone()));
    }
    tokio::spawn(run_organization_syncs(
        organization_sync::Syncer::new(&services),
        sqs.clone(),
        organization_syncs,
    ));

    let state = api::AppState::from_services(&services);
    let app = api::router(state).layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        Duration::from_millis(args.body_timeout_ms),
    ));
    // Play the customer of any link (the README's walk-through does).
    let cloud = dev_server::customer::CustomerCloud::new(&service::runtime::config::aws().await);
    let public_base = services.config.public_url.clone().unwrap_or_default();
    let api = app.clone();
    let app = app.merge(dev_server::customer::launch_stack_route(
        api,
        cloud.clone(),
        public_base.clone(),
    ));
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let listener = tokio::net::TcpListener::bind(address).await?;
    // Play the sample customer: open its page, launch the stack the page
    // links to into moto. Its link then ends in SUCCESS.
    match dev_server::customer::sample_customer(
        &app,
        &token,
        &cloud,
        &public_base,
        dev_server::customer::SAMPLE_ACCOUNT,
    )
    .await
    {
        Ok(sample) => {
            step(&format!(
                "sample customer {}: its role {} from the page's own Launch Stack link; open its onboarding page (what a vendor sends its customer) and press Check connection:",
                sample.account,
                if sample.launched { "created" } else { "already there" },
            ));
            println!("\n    {}\n", sample.url);
        }
        Err(err) => tracing::warn!(error = %err, "no sample customer"),
    }
    let header_timeout = Duration::from_millis(args.header_timeout_ms);
    if let Some(tls_port) = args.tls_port {
        let https = dev_server::https::self_signed()?;
        if let Some(dir) = args.tls_ca_file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&args.tls_ca_file, &https.ca_pem)?;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, tls_port));
        let listener = tokio::net::TcpListener::bind(address).await?;
        step(&format!(
            "API also on https://{address} (its CA: {}; e.g. export CURL_CA_BUNDLE=$PWD/{})",
            args.tls_ca_file.display(),
            args.tls_ca_file.display()
        ));
        tokio::spawn(serve(
            listener,
            app.clone(),
            header_timeout,
            Some(https.acceptor),
        ));
    }
    step(&format!(
        "API listening on http://{address} (Ctrl-C stops everything)"
    ));
    tokio::select! {
        result = serve(listener, app, header_timeout, None) => result?,
        _ = tokio::signal::ctrl_c() => {}
    }
    step("stopped");
    Ok(())
}

/// Serve HTTP/1.1 (over TLS with `tls`) with a deadline for each
/// request's headers, which `axum::serve` lacks: a client that stalls
/// mid-headers is cut off instead of holding a connection forever.
async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    header_timeout: Duration,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors, say: keep serving the others.
            Err(err) => {
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // The peer's address, for what is limited per source (failed
        // authentications), as API Gateway's request context gives it on Lambda.
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(
            app.clone(),
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            },
        ));
        let tls = tls.clone();
        tokio::spawn(async move {
            let http = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .clone();
            let result = match tls {
                None => http.serve_connection(TokioIo::new(stream), service).await,
                // The handshake has the header deadline too.
                Some(tls) => match tokio::time::timeout(header_timeout, tls.accept(stream)).await {
                    Ok(Ok(stream)) => http.serve_connection(TokioIo::new(stream), service).await,
                    _ => return,
                },
            };
            if let Err(err) = result {
                tracing::debug!(error = %err, "connection closed");
            }
        });
    }
}

/// The admin key of tenant `default`: `DEV_API_KEY` if set, else a new one.
async fn bootstrap_admin_key(store: &Store, chosen: Option<&str>) -> service::Result<String> {
    let now = Timestamp::now();
    let (record, token) = match chosen {
        Some(token) => (
            ApiKey::adopt(token, DEV_TENANT, "dev admin", Scope::ALL.to_vec(), now)?,
            token.to_string(),
        ),
        None => {
            let issued = ApiKey::issue(
                DEV_TENANT,
                "dev admin",
                Scope::ALL.to_vec(),
                "operator",
                None,
                now,
            )?;
            (issued.record, issued.token)
        }
    };
    match service::usecases::api_keys::create(store, &record).await {
        Ok(()) | Err(service::Error::AlreadyExists { .. }) => Ok(token),
        Err(err) => Err(err),
    }
}

/// The scan worker on the local queue; a failed job is delivered again
/// after `retry_delay` (in AWS, after the queue's visibility timeout).
async fn poll_scan_queue(
    worker: service::usecases::scan_run::ScanRunner,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    retry_delay: Duration,
) {
    loop {
        if let Err(err) = testkit::scan_pump::poll_once(
            &worker,
            &sqs,
            &queue_url,
            Duration::from_secs(1),
            retry_delay,
        )
        .await
        {
            tracing::warn!(error = %err, "scan queue poll failed");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

/// What the organization sync queue's event source mapping does in AWS.
async fn run_organization_syncs(
    syncer: organization_sync::Syncer,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
) {
    loop {
        let polled = testkit::sqs_pump::poll_once(
            &sqs,
            &queue_url,
            Duration::from_secs(1),
            Some(Duration::from_secs(30)),
            |event| syncer.handle_batch(event),
        )
        .await;
        if let Err(err) = polled {
            tracing::warn!(error = %err, "organization sync queue poll failed");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

/// What the delivery queue's event source mapping does in AWS.
async fn deliver_webhooks(sender: webhook_sender::Sender, sqs: aws_sdk_sqs::Client) {
    loop {
        if let Err(err) =
            testkit::webhook_pump::poll_once(&sender, &sqs, Duration::from_secs(1)).await
        {
            tracing::warn!(error = %err, "delivery queue poll failed");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

/// Attempts at one stream record before it is given up, as the notifier's
/// event source mapping's `MaximumRetryAttempts` in `template.yaml`.
const STREAM_RECORD_ATTEMPTS: u32 = 10;

/// What the stream's event source mapping does in AWS: every change of
/// the table, through the notifier's code, twice a second. A record that
/// cannot be recorded is retried from (with those after it) up to
/// [`STREAM_RECORD_ATTEMPTS`] times, then logged as sent to the on-failure
/// destination and passed, so it never holds the stream back for good.
async fn follow_stream(
    mut reader: testkit::stream::StreamReader,
    notify: service::usecases::notify::Notify,
) {
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    // Read but not yet recorded: kept until recording succeeds.
    let mut pending: Vec<service::aws::changes::Change> = Vec::new();
    // The record that failed last, and how many times it has.
    let mut failing: Option<(String, u32)> = None;
    loop {
        ticker.tick().await;
        match reader.poll().await {
            Ok(changes) => pending.extend(changes),
            Err(err) => {
                tracing::warn!(error = %err.chain(), "stream not read; retrying");
                continue;
            }
        }
        if pending.is_empty() {
            continue;
        }
        let Some((index, err)) = notify.record(&pending).await.failed else {
            pending.clear();
            failing = None;
            continue;
        };
        pending.drain(..index);
        let record = pending[0].record_id.clone();
        let attempts = match &failing {
            Some((id, attempts)) if *id == record => attempts + 1,
            _ => 1,
        };
        if attempts >= STREAM_RECORD_ATTEMPTS {
            tracing::error!(error = %err.chain(), record = %record, attempts, "stream record given up after its retries (the on-failure destination, in AWS)");
            pending.remove(0);
            failing = None;
        } else {
            tracing::warn!(error = %err.chain(), record = %record, attempts, "stream record not recorded; retrying");
            failing = Some((record, attempts));
        }
    }
}

/// What the EventBridge schedule does in AWS, on a short interval.
async fn run_verifier(sweeper: service::usecases::sweep::Sweeper, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        let mut event = EventBridgeEvent::default();
        event.source = "dev.scheduler".to_string();
        event.detail_type = "Scheduled Event".to_string();
        verifier::handle_schedule(&sweeper, event, interval).await;
    }
}
