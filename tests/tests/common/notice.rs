//! The notice page as a browser reads it: the form behind "I understand,
//! take me to my page" (where it posts, its CSRF token, the page asked
//! for), and the button pressed from the subscriber's own namespace.

use cordon_lab::{CurlReply, Host};

/// The English button, which only the notice page carries.
pub const NOTICE_BUTTON: &str = "I understand, take me to my page";

/// The notice form's fields, unescaped as a browser reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeForm {
    /// Where it posts (the portal's own origin).
    pub action: String,
    /// The CSRF token.
    pub csrf: String,
    /// The page the subscriber asked for.
    pub url: String,
    /// The page's language.
    pub lang: String,
}

/// The notice form of `page`, or `None` when `page` is not the notice
/// (the real site, the portal's redirect, the cleanup page).
pub fn notice_form(page: &CurlReply) -> Option<NoticeForm> {
    let html = &page.body;
    if page.status != Some(200) || !html.contains(NOTICE_BUTTON) {
        return None;
    }
    Some(NoticeForm {
        action: attribute(html, "action=\"")?,
        csrf: attribute(html, "name=\"csrf\" value=\"")?,
        url: attribute(html, "name=\"url\" value=\"")?,
        lang: attribute(html, "name=\"lang\" value=\"")?,
    })
}

/// The attribute value that follows `marker` (which ends with its opening
/// quote), with minijinja's HTML escapes undone.
fn attribute(html: &str, marker: &str) -> Option<String> {
    let value = html.split(marker).nth(1)?.split('"').next()?;
    Some(
        value
            .replace("&#x2f;", "/")
            .replace("&#x27;", "'")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// Presses the button from `host`, as a browser submits the form (a
/// url-encoded POST of its hidden fields, redirects not followed).
pub fn acknowledge(host: &Host, form: &NoticeForm) -> CurlReply {
    host.curl(
        &form.action,
        &[
            "--data-urlencode",
            &format!("csrf={}", form.csrf),
            "--data-urlencode",
            &format!("lang={}", form.lang),
            "--data-urlencode",
            &format!("url={}", form.url),
        ],
    )
    .unwrap()
}

/// The notice shown on `host`'s plain `http://` request for `url`: its form
/// (panics, with what came instead, when anything else answered).
pub fn expect_notice(host: &Host, url: &str) -> NoticeForm {
    let page = host.curl(url, &[]).unwrap();
    notice_form(&page).unwrap_or_else(|| panic!("no notice page for {url}: {page:?}"))
}
