//! Reading the cleanup page as the story tells it: its first lines and its
//! list of tools to download.

/// A download as the cleanup page lists it.
pub(super) struct Listed {
    pub(super) file: String,
    pub(super) name: String,
    pub(super) size: String,
    pub(super) sha256: String,
}

/// The text between `open` and the next `close` in `s`.
fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = s.find(open)? + open.len();
    let len = s[start..].find(close)?;
    Some(&s[start..start + len])
}

/// The tools section of the cleanup page: each item's file (the download
/// link's last segment), name, size and SHA-256.
pub(super) fn tools_on(html: &str) -> Vec<Listed> {
    let Some(section) = between(html, "<section aria-labelledby=\"tools-h\">", "</section>") else {
        return Vec::new();
    };
    section
        .split("<li>")
        .skip(1)
        .filter_map(|item| {
            let href = between(item, "href=\"", "\"")?;
            let file = href.rsplit(['/', ';']).next()?.to_owned();
            Some(Listed {
                file,
                name: strip_tags(between(item, "download>", "</a>")?),
                size: between(item, "<span class=\"small\">(", ")</span>")?.to_owned(),
                sha256: between(item, "<code>", "</code>")?.to_owned(),
            })
        })
        .collect()
}

/// The page's heading and first paragraph (of its main part) as plain text.
pub(super) fn first_lines(html: &str, n: usize) -> Vec<String> {
    let html = html.find("<main").map_or(html, |i| &html[i..]);
    let mut out = Vec::new();
    for tag in ["h1", "p"] {
        let open = format!("<{tag}");
        if let Some(start) = html.find(&open) {
            let rest = &html[start..];
            let body_start = rest.find('>').map_or(0, |i| i + 1);
            let end = rest.find(&format!("</{tag}>")).unwrap_or(rest.len());
            out.push(strip_tags(&rest[body_start..end]));
        }
    }
    out.truncate(n);
    out
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in s.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}
