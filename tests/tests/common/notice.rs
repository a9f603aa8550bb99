//! The notice page as a browser reads it: the form behind "I understand,
//! take me to my page" (where it posts, its CSRF token, the page asked
//! for), and the button pressed from the subscriber's own namespace.

use cordon_lab::{CurlReply, Host};

/// The English button, which only the notice page carries.
pub const NOTICE_BUTTON: &str = "I understand, take me to my page";

/// The notice form, unescaped as a browser reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeForm {
    /// Where it posts (the portal's own origin).
    pub action: String,
    /// The CSRF token.
    pub csrf: String,
    /// The page the subscriber asked for.
    pub url: String,
    /// Every hidden field, in order, as the browser posts them.
    pub fields: Vec<(String, String)>,
    /// The page's Content-Security-Policy, if it had one.
    pub csp: Option<String>,
}

impl NoticeForm {
    /// Whether a browser would submit the form at all: the page's policy
    /// (`form-action`) must allow the action's origin, where `'self'` is
    /// the origin of the page shown, the one asked for.
    pub fn browser_may_submit(&self) -> bool {
        let Some(csp) = &self.csp else {
            return true;
        };
        let Some(sources) = csp
            .split(';')
            .find_map(|d| d.trim().strip_prefix("form-action "))
        else {
            return true;
        };
        let to = origin(&self.action);
        sources
            .split_whitespace()
            .any(|s| s == to || (s == "'self'" && to == origin(&self.url)))
    }
}

/// `scheme://authority` of an absolute URL.
fn origin(url: &str) -> String {
    url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/")
}

/// The notice form of `page`, or `None` when `page` is not the notice
/// (the real site, the portal's redirect, the cleanup page).
pub fn notice_form(page: &CurlReply) -> Option<NoticeForm> {
    let html = &page.body;
    if page.status != Some(200) || !html.contains(NOTICE_BUTTON) {
        return None;
    }
    let form = html.split("<form").nth(1)?.split("</form>").next()?;
    let fields: Vec<(String, String)> = form
        .split("<input type=\"hidden\" ")
        .skip(1)
        .filter_map(|input| Some((attribute(input, "name=\"")?, attribute(input, "value=\"")?)))
        .collect();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    Some(NoticeForm {
        action: attribute(form, "action=\"")?,
        csrf: field("csrf")?,
        url: field("url")?,
        fields,
        csp: page.header("content-security-policy").map(str::to_owned),
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

/// Presses the button from `host`, as a browser submits the form: every
/// hidden field, url-encoded, POSTed to its action (redirects not
/// followed).
pub fn acknowledge(host: &Host, form: &NoticeForm) -> CurlReply {
    let encoded: Vec<String> = form
        .fields
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut args: Vec<&str> = Vec::new();
    for field in &encoded {
        args.extend_from_slice(&["--data-urlencode", field]);
    }
    host.curl(&form.action, &args).unwrap()
}

/// The notice shown on `host`'s plain `http://` request for `url`: its form
/// (panics, with what came instead, when anything else answered).
pub fn expect_notice(host: &Host, url: &str) -> NoticeForm {
    let page = host.curl(url, &[]).unwrap();
    notice_form(&page).unwrap_or_else(|| panic!("no notice page for {url}: {page:?}"))
}
