//! Outside reports as tests and benchmarks hand them in: one shape of an
//! RFC 5965 feedback report, kept in one place.

/// An ARF report (RFC 5965) about `ip`, arrived at `date` (RFC 5322), sent
/// by a feedback loop whose agent is `agent`, about the message
/// `<{message_id}@example.net>` (the same id from the same sender counts
/// once). One message, without an mbox `From ` line.
pub fn arf_report(ip: &str, date: &str, message_id: &str, agent: &str) -> String {
    format!(
        "From: <fbl@complaints.example.net>\n\
Date: {date}\n\
Subject: Complaint about a message from your network\n\
To: <abuse@isp.example>\n\
MIME-Version: 1.0\n\
Content-Type: multipart/report; report-type=feedback-report;\n boundary=\"b1\"\n\
\n\
--b1\n\
Content-Type: text/plain; charset=\"US-ASCII\"\n\
\n\
An abuse report for a message received from {ip}.\n\
\n\
--b1\n\
Content-Type: message/feedback-report\n\
\n\
Feedback-Type: abuse\n\
User-Agent: {agent}\n\
Version: 1\n\
Arrival-Date: {date}\n\
Reporting-MTA: dns; mx1.complaints.example.net\n\
Source-IP: {ip}\n\
\n\
--b1\n\
Content-Type: message/rfc822\n\
Content-Disposition: inline\n\
\n\
From: <spammer@example.net>\n\
Subject: A great offer\n\
Message-ID: <{message_id}@example.net>\n\
\n\
Buy now.\n\
--b1--\n"
    )
}
