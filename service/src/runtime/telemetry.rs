//! One logging set-up for every entry point: JSON lines for Lambda
//! (CloudWatch), compact text for the dev server; the level from
//! `RUST_LOG` (default `info`).

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object a line, with every span (the runtime's, carrying
    /// Lambda's request id, and ours); no timestamp (CloudWatch adds one).
    Json,
    /// Human-readable lines, for a terminal.
    Compact,
}

/// Install the global subscriber; a second call is a no-op.
pub fn init(format: LogFormat) {
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a terminal: a file, a pipe or CloudWatch gets
    // plain text, without escape codes.
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    // A second call finds a subscriber installed and changes nothing.
    match format {
        LogFormat::Json => {
            let _ = json_subscriber(filter, std::io::stdout).try_init();
        }
        LogFormat::Compact => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(terminal)
                .compact()
                .try_init();
        }
    }
}

/// The JSON lines of a Lambda function at `filter`, written by `writer`:
/// [`init`]'s with stdout; the bench's with a counter of a function's
/// log bytes (as a scoped dispatcher beside the global one).
pub fn json_subscriber<W>(
    filter: tracing_subscriber::EnvFilter,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'writer> tracing_subscriber::fmt::MakeWriter<'writer> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(writer)
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .without_time()
        .finish()
}
