//! Debian's headless Chromium as the browser tests drive it (the portal's
//! own and the lab's end-to-end one): where it is, the capabilities of a
//! phone-sized WebDriver session, and a guard that ends chromedriver and
//! the Chromium it started.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Map, Value, json};

use crate::poll::try_poll_until;

/// Debian's Chromium (chromedriver finds the real binary behind this
/// script through the same path).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver (package `chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The flags every test's Chromium runs with: headless, as root, and
/// reaching no host the test did not name (no update checks, sync or
/// QUIC), with `/tmp` rather than a small `/dev/shm`.
pub const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
];

/// A phone's screen, in CSS pixels.
pub const PHONE: (u32, u32) = (390, 844);

/// WebDriver capabilities for Chromium with a phone's screen ([`PHONE`]),
/// a profile of its own in `profile`, [`FLAGS`] and `args`, and `prefs`
/// added to a blank first tab.
pub fn phone_capabilities(
    profile: &Path,
    args: &[&str],
    prefs: Map<String, Value>,
) -> Map<String, Value> {
    let (width, height) = PHONE;
    let mut all: Vec<String> = FLAGS.iter().map(|f| (*f).to_owned()).collect();
    all.push(format!("--user-data-dir={}", profile.display()));
    all.push(format!("--window-size={width},{height}"));
    all.extend(args.iter().map(|a| (*a).to_owned()));
    // A blank first tab: Debian's default new-tab page asks a search
    // engine, which is not there (or, in the lab, answers too slowly).
    let mut all_prefs = Map::new();
    all_prefs.insert("session.restore_on_startup".into(), json!(4));
    all_prefs.insert("session.startup_urls".into(), json!(["about:blank"]));
    all_prefs.extend(prefs);
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": all,
            // Headless Chromium keeps windows at least 500 px wide; a
            // phone's screen is narrower.
            "mobileEmulation": {
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0 },
            },
            "prefs": all_prefs,
        },
    });
    match caps {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// How long a group has to end after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(5);

/// A child started in a process group of its own (chromedriver, with the
/// Chromium it starts); dropping it ends the whole group: SIGTERM, up to
/// five seconds, then SIGKILL.
#[derive(Debug)]
pub struct Group {
    child: Child,
}

impl Group {
    /// Starts `cmd` as the leader of a new process group.
    pub fn spawn(cmd: &mut Command) -> std::io::Result<Group> {
        Ok(Group {
            child: cmd.process_group(0).spawn()?,
        })
    }

    /// The leader, to take its pipes or ask whether it ended.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let group = Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX));
        let _ = killpg(group, Signal::SIGTERM);
        let ended = try_poll_until(GRACE, "the process group to end", || {
            matches!(self.child.try_wait(), Ok(Some(_)) | Err(_)).then_some(())
        });
        if ended.is_err() {
            let _ = killpg(group, Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phone_session_has_the_flags_the_profile_and_both_prefs() {
        let mut prefs = Map::new();
        prefs.insert("intl.accept_languages".into(), json!("es-ES,es"));
        let caps = phone_capabilities(Path::new("/tmp/p"), &["--lang=es"], prefs);
        let options = &caps["goog:chromeOptions"];
        let args: Vec<&str> = options["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for flag in FLAGS {
            assert!(args.contains(flag), "{flag} in {args:?}");
        }
        assert!(args.contains(&"--user-data-dir=/tmp/p"), "{args:?}");
        assert!(args.contains(&"--window-size=390,844"), "{args:?}");
        assert!(args.contains(&"--lang=es"), "{args:?}");
        assert_eq!(options["prefs"]["intl.accept_languages"], "es-ES,es");
        assert_eq!(options["prefs"]["session.restore_on_startup"], 4);
        assert_eq!(
            options["mobileEmulation"]["deviceMetrics"]["width"],
            json!(390)
        );
    }

    #[test]
    fn dropping_a_group_ends_what_its_leader_started() {
        let mut sh = Command::new("sh");
        sh.args(["-c", "sleep 600 & echo $!; wait"])
            .stdout(std::process::Stdio::piped());
        let mut group = Group::spawn(&mut sh).expect("sh starts");
        let mut line = String::new();
        let out = group.child().stdout.take().expect("piped");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line)
            .expect("the sleep's pid");
        let sleeper = line.trim().to_owned();
        drop(group);
        crate::eventually(Duration::from_secs(5), "the sleep to end", || {
            std::fs::read_to_string(format!("/proc/{sleeper}/stat"))
                .map_or(true, |s| s.contains(") Z"))
        });
    }
}
