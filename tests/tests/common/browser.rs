//! Driving Debian's Chromium from inside a lab subscriber's namespace,
//! shared by the browser tests: a WebDriver session ([`Browser`]) through
//! Debian's `chromedriver` ([`Chromedriver`]), and the screenshots kept as
//! test output ([`Screens`]). The including file brings `axe` (the portal's
//! accessibility audit) into scope beside this module.

use std::fs::File;
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use cordon_lab::{Host, TcpOutcome, wait_for};
use cordon_testkit::chromium::{Group, phone_capabilities};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Map, json};

use super::axe;

/// chromedriver's port inside the subscriber's namespace: the namespace is
/// the lab's own, so nothing else listens there.
pub const DRIVER_PORT: u16 = 9515;
/// How long one WebDriver command (a page load, a click) may take.
pub const STEP: Duration = Duration::from_secs(30);
const SHORT: Duration = Duration::from_secs(2);

/// A WebDriver session with Chromium, driven from the calling thread (its
/// sockets are opened in that thread's namespace). Ending it (also on a
/// panic) quits the browser.
pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
}

impl Browser {
    /// A browser whose person reads `lang` (`es`, `da`): its interface
    /// language and Accept-Language (`accept`, e.g. `es-ES,es`).
    pub fn open(port: u16, profile: &Path, lang: &str, accept: &str) -> Browser {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut prefs = Map::new();
        prefs.insert("intl.accept_languages".into(), json!(accept));
        let flag = format!("--lang={lang}");
        let caps = phone_capabilities(profile, &[flag.as_str()], prefs);
        let webdriver = format!("http://{}:{port}", Ipv4Addr::LOCALHOST);
        let mut builder = ClientBuilder::new(HttpConnector::new());
        let connecting = builder.capabilities(caps).connect(&webdriver);
        let client = rt
            .block_on(async { tokio::time::timeout(STEP, connecting).await })
            .unwrap_or_else(|_| panic!("no WebDriver session within {STEP:?}"))
            .unwrap();
        Browser {
            rt,
            client: Some(client),
        }
    }

    /// Runs one WebDriver command to its end, or fails the test.
    pub fn step<T, E: std::fmt::Debug>(
        &self,
        what: &str,
        command: impl Future<Output = Result<T, E>>,
    ) -> T {
        match self
            .rt
            .block_on(async { tokio::time::timeout(STEP, command).await })
        {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => panic!("{what}: {e:?}"),
            Err(_) => panic!("{what}: no answer within {STEP:?}"),
        }
    }

    pub fn client(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    pub fn goto(&self, url: &str) {
        self.step(&format!("opening {url}"), self.client().goto(url));
    }

    pub fn url(&self) -> String {
        self.step("reading the URL", self.client().current_url())
            .to_string()
    }

    pub fn title(&self) -> String {
        self.step("reading the title", self.client().title())
    }

    pub fn source(&self) -> String {
        self.step("reading the page", self.client().source())
    }

    pub fn text(&self, css: &str) -> String {
        self.step(&format!("reading {css}"), async {
            self.client().find(Locator::Css(css)).await?.text().await
        })
    }

    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.step(&format!("reading {css} {name}"), async {
            self.client()
                .find(Locator::Css(css))
                .await?
                .attr(name)
                .await
        })
    }

    /// Clicks what `css` finds and waits until `arrived` accepts the page
    /// the browser is on (the form's answer, the page it leads to).
    pub fn click_until(&self, css: &str, what: &str, arrived: impl Fn(&Browser) -> bool) {
        self.step(&format!("clicking {css}"), async {
            self.client().find(Locator::Css(css)).await?.click().await
        });
        if let Err(e) = wait_for(STEP, what, || arrived(self)) {
            panic!("{e}: on {} now:\n{}", self.url(), self.source());
        }
    }

    /// axe-core's audit (WCAG 2.1 A/AA and best practice) of the page shown
    /// now, at the phone's size: any violation fails the test, named.
    pub fn audit(&self, axe: &str, what: &str) {
        let found = self.step(&format!("auditing {what}"), async {
            Ok::<_, ()>(axe::violations(self.client(), axe).await)
        });
        assert!(
            found.is_empty(),
            "axe-core found {} violation(s) on {what}:\n{}",
            found.len(),
            found.join("\n")
        );
    }

    pub fn screenshot(&self) -> Vec<u8> {
        self.step("taking a screenshot", self.client().screenshot())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Ends the session, which quits Chromium; chromedriver's guard
            // and the lab's guard catch what is left if this fails.
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(SHORT * 5, client.close()).await });
        }
    }
}

/// chromedriver running inside a namespace, in its own process group
/// (with the Chromium it starts); dropping it ends the group.
pub struct Chromedriver {
    /// Ends chromedriver and its Chromium on drop.
    group: Group,
    /// Where it listens (in the subscriber's namespace).
    pub port: u16,
}

impl Chromedriver {
    pub fn start(host: &Host, port: u16, log: &Path) -> Chromedriver {
        let out = File::create(log).unwrap();
        let err = out.try_clone().unwrap();
        let mut cmd = cordon_lab::netns::command(host.netns(), "chromedriver");
        cmd.arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let mut driver = Chromedriver {
            group: Group::spawn(&mut cmd).unwrap(),
            port,
        };
        wait_for(SHORT * 10, "chromedriver to listen", || {
            if let Some(status) = driver.group.child().try_wait().unwrap() {
                panic!(
                    "chromedriver ended ({status}): {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            host.tcp_connect(Ipv4Addr::LOCALHOST, port, SHORT).unwrap() == TcpOutcome::Connected
        })
        .unwrap();
        driver
    }
}

/// Where the screenshots go: test output a person looks at, in
/// `target/tmp/browser-screens/`, each test's named by its own prefix.
pub struct Screens {
    /// The directory (chromedriver's log goes here too).
    pub dir: PathBuf,
    prefix: String,
}

impl Screens {
    /// This run's pictures of the test that names them `PREFIX-…`.
    pub fn new(prefix: &str) -> Screens {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-screens");
        std::fs::create_dir_all(&dir).unwrap();
        // Only this run's pictures (of this test: others may run beside it).
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("{prefix}-")) && name.ends_with(".png") {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
        Screens {
            dir,
            prefix: prefix.to_owned(),
        }
    }

    /// What the person sees on the phone's screen.
    pub fn save(&self, browser: &Browser, name: &str) {
        let path = self.dir.join(format!("{}-{name}.png", self.prefix));
        std::fs::write(&path, browser.screenshot()).unwrap();
        eprintln!("screenshot: {}", path.display());
    }

    /// The chromedriver log of this test.
    pub fn driver_log(&self) -> PathBuf {
        self.dir.join(format!("{}-chromedriver.log", self.prefix))
    }

    /// The whole page as the person scrolls through it, one screen at a
    /// time (`NAME-1.png`, `NAME-2.png`, ...), then back to the top.
    pub fn save_scrolling(&self, browser: &Browser, name: &str) {
        let client = browser.client();
        let sizes = browser.step(
            "measuring the page",
            client.execute(
                "return [window.innerHeight, document.documentElement.scrollHeight]",
                vec![],
            ),
        );
        let (screen, page) = (sizes[0].as_u64().unwrap(), sizes[1].as_u64().unwrap());
        assert!(screen > 0, "a window with no height");
        for (i, top) in (0..page)
            .step_by(usize::try_from(screen).unwrap())
            .enumerate()
        {
            browser.step(
                "scrolling",
                client.execute("window.scrollTo(0, arguments[0])", vec![json!(top)]),
            );
            self.save(browser, &format!("{name}-{}", i + 1));
        }
        browser.step(
            "scrolling back",
            client.execute("window.scrollTo(0, 0)", vec![]),
        );
    }
}
