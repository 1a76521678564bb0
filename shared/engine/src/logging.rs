//! Logging for the `zdsync` command and the Lambdas: one filter, with the
//! libraries that can log secrets capped whatever verbosity is asked.
//!
//! At `trace` the AWS SDK logs requests and their bodies (a
//! `PutSecretValue` carries the Zendesk token), and the HTTP stack logs
//! connection details. Their own records are therefore kept at `info` and
//! above even with `RUST_LOG=trace`; zdsync's own records never hold a
//! secret or a customer's words at any level.

use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// Target prefixes capped at [`CAP`] (a target matches when it starts with
/// one: `aws_` covers `aws_smithy_runtime`, `aws_sigv4`, `aws_sdk_*`...).
pub const CAPPED_TARGETS: &[&str] = &["aws_", "hyper", "h2", "reqwest", "rustls", "tower"];

/// The most verbose level a capped library may log at.
pub const CAP: LevelFilter = LevelFilter::INFO;

/// The cap: every target at any level, except [`CAPPED_TARGETS`] at [`CAP`].
pub fn caps() -> Targets {
    CAPPED_TARGETS
        .iter()
        .fold(Targets::new().with_default(LevelFilter::TRACE), |t, p| {
            t.with_target(*p, CAP)
        })
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default)]
pub struct Format {
    /// One JSON object per line (Lambda's JSON log format).
    pub json: bool,
    /// Colours (only on a terminal).
    pub ansi: bool,
    /// Without time and target (Lambda adds its own time stamp).
    pub compact: bool,
}

/// A subscriber for `directives` (`RUST_LOG` syntax; a bad directive is
/// skipped), capped by [`caps`], writing to `writer`.
pub fn subscriber<W>(
    directives: &str,
    format: Format,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::builder().parse_lossy(directives).and(caps());
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(format.ansi)
        .with_target(!format.compact);
    let registry = tracing_subscriber::registry();
    match (format.json, format.compact) {
        (true, _) => Box::new(registry.with(layer.json().with_filter(filter))),
        (false, true) => Box::new(registry.with(layer.without_time().with_filter(filter))),
        (false, false) => Box::new(registry.with(layer.with_filter(filter))),
    }
}

/// Installs [`subscriber`] for the process (a second call does nothing).
pub fn init<W>(directives: &str, format: Format, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let _ = tracing::subscriber::set_global_default(subscriber(directives, format, writer));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(directives: &str, format: Format) -> String {
        let buffer = Buffer::default();
        let out = buffer.clone();
        let sub = subscriber(directives, format, move || out.clone());
        tracing::subscriber::with_default(sub, || {
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", body = "s3cr3t-sdk", "request");
            tracing::debug!(target: "aws_sigv4::http_request", "s3cr3t-signing");
            tracing::trace!(target: "hyper_util::client", "s3cr3t-http");
            tracing::info!(target: "aws_config::meta", "region chosen");
            tracing::trace!(target: "zdsync_engine::sync", "own trace");
        });
        let bytes = buffer.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn the_sdk_and_http_stack_stay_at_info_under_trace() {
        let text = logged("trace", Format::default());
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("region chosen"), "info is kept: {text}");
        assert!(
            text.contains("own trace"),
            "zdsync's own trace is kept: {text}"
        );
    }

    #[test]
    fn a_directive_naming_the_sdk_cannot_lift_the_cap() {
        let text = logged(
            "aws_smithy_runtime::client=trace,aws_sigv4=trace,hyper_util=trace",
            Format {
                json: true,
                ..Format::default()
            },
        );
        assert!(!text.contains("s3cr3t"), "{text}");
    }

    #[test]
    fn the_level_asked_still_limits_everything() {
        let text = logged(
            "warn",
            Format {
                compact: true,
                ..Format::default()
            },
        );
        assert!(text.is_empty(), "{text}");
    }
}
