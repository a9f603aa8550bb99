//! Mail as the abuse desk keeps it: one message or an mbox of several,
//! and which report format each message is in.

use super::FeedFormat;

/// Where each message of an mbox starts: (byte offset, 1-based line).
///
/// A message starts at the file's first non-blank line and at each mbox
/// `From ` line that follows a blank line, except inside an open MIME
/// multipart: a feedback report's attached original (`message/rfc822`)
/// often begins with its own mbox `From ` line, and mboxo writers do not
/// escape it. A message whose top-level header declares a `boundary` is
/// open until that boundary's closing line (`--boundary--`); a `From `
/// line before it is part of the message. (A multipart cut short before
/// its closing line therefore holds the rest of the file: it is rejected
/// as one message, named by its first line, not lost without a word.)
pub(super) fn message_starts(data: &[u8]) -> Vec<(usize, u64)> {
    let mut starts: Vec<(usize, u64)> = Vec::new();
    let mut offset = 0;
    let mut prev_blank = true;
    let mut state = Message::default();
    for (i, line) in data.split_inclusive(|&b| b == b'\n').enumerate() {
        let line_no = i as u64 + 1;
        let blank = line.iter().all(u8::is_ascii_whitespace);
        if starts.is_empty() {
            if !blank {
                starts.push((offset, line_no));
                state = Message::default();
                state.line(line);
            }
        } else if prev_blank && line.starts_with(b"From ") && !state.is_open() {
            starts.push((offset, line_no));
            state = Message::default();
        } else {
            state.line(line);
        }
        prev_blank = blank;
        offset += line.len();
    }
    starts
}

/// What the splitter knows of the message it is in.
#[derive(Default)]
struct Message {
    /// Still reading the top-level header block.
    body: bool,
    /// The top-level header block so far (bounded).
    header: Vec<u8>,
    /// `--boundary--`, once the header declared one.
    closing: Option<Vec<u8>>,
    closed: bool,
}

/// Header bytes kept to find the boundary: far more than any real
/// Content-Type, and the bound on what one message's header costs.
const MAX_HEADER: usize = 64 << 10;

impl Message {
    fn line(&mut self, line: &[u8]) {
        if !self.body {
            if line.iter().all(u8::is_ascii_whitespace) {
                self.body = true;
                self.closing = boundary(&self.header).map(|b| [b"--", &b[..], b"--"].concat());
            } else if self.header.len() + line.len() <= MAX_HEADER && !line.starts_with(b"From ") {
                self.header.extend_from_slice(line);
            }
        } else if let Some(closing) = &self.closing
            && line.trim_ascii_end() == closing.as_slice()
        {
            self.closed = true;
        }
    }

    fn is_open(&self) -> bool {
        self.closing.is_some() && !self.closed
    }
}

/// The `boundary` parameter of the top-level Content-Type, if any.
fn boundary(header: &[u8]) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(header);
    let ct = unfolded_field(&text, "content-type")?;
    let lower = ct.to_ascii_lowercase();
    let at = lower.find("boundary=")? + "boundary=".len();
    let value = &ct[at..];
    let value = match value.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next()?,
        None => value.split([';', ' ', '\t']).next()?,
    };
    (!value.is_empty()).then(|| value.as_bytes().to_vec())
}

/// A header field's value with its folded lines joined; the first one.
fn unfolded_field(header: &str, name: &str) -> Option<String> {
    let mut value: Option<String> = None;
    for line in header.lines() {
        match &mut value {
            Some(v) if line.starts_with([' ', '\t']) => {
                v.push(' ');
                v.push_str(line.trim());
            }
            Some(_) => break,
            None => {
                if let Some((n, v)) = line.split_once(':')
                    && n.trim().eq_ignore_ascii_case(name)
                {
                    value = Some(v.trim().to_owned());
                }
            }
        }
    }
    value
}

/// The message without its mbox `From ` line, if it has one.
pub(super) fn strip_from_line(msg: &[u8]) -> &[u8] {
    if msg.starts_with(b"From ") {
        let cut = msg
            .iter()
            .position(|&b| b == b'\n')
            .map_or(msg.len(), |p| p + 1);
        &msg[cut..]
    } else {
        msg
    }
}

/// Which report format one message is in, from its top-level header:
/// X-ARF says so (`X-XARF:`, RFC-style); SpamCop's reports name
/// themselves in the subject (`[SpamCop (…) id:…]`, also when a ticket
/// system prefixes it), in `X-SpamCop-*` fields or in the sender's
/// domain; anything else is read as ARF (which refuses what is not).
pub(super) fn mail_format(msg: &[u8]) -> FeedFormat {
    let msg = strip_from_line(msg);
    let end = msg.len().min(MAX_HEADER);
    let head = String::from_utf8_lossy(&msg[..end]);
    for line in head.lines() {
        if line.trim().is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        if name == "x-xarf" {
            return FeedFormat::Xarf;
        }
        if name.starts_with("x-spamcop-")
            || (name == "subject" && value.contains("[SpamCop ("))
            || (name == "from" && value.to_ascii_lowercase().contains("@reports.spamcop.net"))
        {
            return FeedFormat::SpamCop;
        }
    }
    FeedFormat::Arf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_from_line_inside_an_open_multipart_does_not_split() {
        let mbox = "From a Thu Mar  8 14:00:00 2024\n\
                    Content-Type: multipart/report;\n boundary=\"b1\"\n\n\
                    --b1\nContent-Type: message/rfc822\n\n\
                    From spammer Thu Mar  8 13:00:00 2024\nSubject: x\n\nbody\n\n\
                    From not-a-split Thu Mar  8 13:00:00 2024\n\
                    --b1--\n\n\
                    From b Thu Mar  8 14:00:00 2024\nSubject: plain\n\nhi\n\n\
                    From c Thu Mar  8 14:00:00 2024\nSubject: plain\n";
        let lines: Vec<u64> = message_starts(mbox.as_bytes())
            .iter()
            .map(|s| s.1)
            .collect();
        assert_eq!(lines, vec![1, 16, 21]);
    }

    #[test]
    fn formats_by_header() {
        assert_eq!(
            mail_format(b"X-XARF: PLAIN\nSubject: x\n"),
            FeedFormat::Xarf
        );
        assert_eq!(
            mail_format(b"From x Thu\nSubject: [rt #1] [SpamCop (100.64.1.7) id:1]x\n"),
            FeedFormat::SpamCop
        );
        assert_eq!(
            mail_format(b"Subject: hi\n\nX-XARF: PLAIN\n"),
            FeedFormat::Arf
        );
    }
}
