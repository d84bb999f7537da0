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
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a terminal: a file, a pipe or CloudWatch gets
    // plain text, without escape codes.
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal && format == LogFormat::Compact);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .without_time()
            .try_init(),
        LogFormat::Compact => builder.compact().try_init(),
    };
}
