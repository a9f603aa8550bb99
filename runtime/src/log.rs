//! The field formatter of both daemons' text logs: every field of every
//! event and span (the message too) goes through [`printable`], so a
//! reason, a feed's evidence or an ARF header with `\r\n` or terminal
//! escapes cannot forge a log line or rewrite the terminal of whoever reads
//! the log. Escaping here, once, covers every call site, present and
//! future. (JSON logs escape by themselves.)

use std::fmt;

use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};

use cordon_proto::text::printable;

/// `DefaultFields` with control characters escaped.
#[derive(Debug, Default)]
pub struct EscapingFields(DefaultFields);

impl<'writer> FormatFields<'writer> for EscapingFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut line = String::new();
        self.0.format_fields(Writer::new(&mut line), fields)?;
        writer.write_str(&printable(&line))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn no_field_reaches_the_log_raw() {
        let buf = Buf::default();
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .fmt_fields(EscapingFields::default())
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("quarantine", operator = "ev\r\nil");
            let _g = span.enter();
            let reason = "\u{1b}]0;PWNED\u{7}\u{1b}[2J\r\nFAKE";
            tracing::info!(%reason, note = ?reason, "taken \r\n{reason}");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            !text.trim_end_matches('\n').chars().any(char::is_control),
            "{text:?}"
        );
        assert!(
            text.contains("\\r\\nFAKE") && text.contains("ev\\r\\nil"),
            "{text}"
        );
    }
}
