use tracing_subscriber::EnvFilter;

/// Logs go to stderr so that `--json` output on stdout stays machine-readable.
/// `RUST_LOG` overrides the default level.
pub fn init(default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
