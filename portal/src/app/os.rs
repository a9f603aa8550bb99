//! Which cleanup steps a visitor sees first.

/// The operating system a visitor's browser says it runs on, to open the
/// matching cleanup steps first.
pub(super) fn detect_os(user_agent: &str) -> &'static str {
    if user_agent.contains("Windows") {
        "windows"
    } else if user_agent.contains("Android") {
        "android"
    } else if user_agent.contains("iPhone") || user_agent.contains("iPad") {
        "iphone"
    } else if user_agent.contains("Macintosh") || user_agent.contains("Mac OS") {
        "macos"
    } else if user_agent.contains("Linux") || user_agent.contains("X11") {
        "linux"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_the_os() {
        assert_eq!(
            detect_os("Mozilla/5.0 (Windows NT 10.0; Win64; x64)"),
            "windows"
        );
        assert_eq!(
            detect_os("Mozilla/5.0 (Linux; Android 14; Pixel 8)"),
            "android"
        );
        assert_eq!(
            detect_os("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"),
            "iphone"
        );
        assert_eq!(
            detect_os("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0)"),
            "macos"
        );
        assert_eq!(detect_os("Mozilla/5.0 (X11; Linux x86_64)"), "linux");
        assert_eq!(detect_os("curl/8"), "");
    }
}
