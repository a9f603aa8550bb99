//! The noticed person's story, in Danish: an ordinary page shows the notice
//! in place of the page asked for, and "Jeg forstår, før mig til min side"
//! leads back to that page on the real site.

use cordon_lab::addresses::WEB_V4;
use cordon_lab::internet::http::BODY_PREFIX;
use cordon_lab::tools::{CHECKLIST, checklist};

use crate::axe;
use crate::common::lab;
use crate::session::{Browser, Chromedriver, DANISH, DRIVER_PORT, Screens};

// The Danish the notice must show (portal/translations/da.ftl).
const NOTICED_TITLE: &str = "En enhed i dit hjem sender måske uønsket post";
const CONTINUE_TITLE: &str = "Din side er et klik væk";
const NOTICE_BUTTON: &str = "Jeg forstår, før mig til min side";
/// `notice-asked`, before the address.
const ASKED: &str = "Du bad om: ";

/// `notice-asked` in English (portal/translations/en.ftl).
const ASKED_EN: &str = "You asked for: ";

/// The notice form's field carrying the page asked for.
const ASKED_FIELD: &str = "form input[name=url]";
/// The notice form's button (portal/templates/notice.html).
const BUTTON: &str = "form button#acknowledge";
/// The cleanup tools' download links (portal/templates/tools.html).
const TOOL: &str = "ul.tools a[download]";

/// The language switcher's link to `code` (portal/templates/base.html).
fn lang_link(code: &str) -> String {
    format!("nav ul.langs a[hreflang={code}]")
}

/// A subscriber the operator noticed (`cordon notice`) opens an article:
/// the notice, in Danish, at the article's own address; the button takes it
/// to the article on the real site, and the article keeps opening there
/// (the notice shows once per interval, not at every page load). Switching
/// the notice to English and back on the way changes nothing of that.
#[test]
fn a_danish_browser_sees_the_notice_and_the_button_leads_back_to_its_page() {
    let lab = lab("browser-notice")
        .subscribers(1)
        .daemons(true)
        .up()
        .unwrap();
    let home = lab.subscriber(0);
    let addr = home.ipv4().to_string();
    let axe = axe::script();
    let screens = Screens::new("notice-da");
    let profile = tempfile::tempdir().unwrap();
    // Declared after `lab` and `profile`, so dropped before them.
    let driver = Chromedriver::start(&home, DRIVER_PORT, &screens.dir.join("chromedriver.log"));
    let path = "/nyheder/artikel?id=7";
    let article = format!("http://{WEB_V4}{path}");
    let portal = lab.gateway().portal_url().to_owned();

    // Before any notice, the article is the real site's. Asked with curl,
    // not the browser: a notice redirects new connections only (it touches
    // no flow already open), and Chromium would keep this one alive for
    // the visit after the notice.
    let before = home.curl(&article, &[]).unwrap();
    assert!(before.body.starts_with(BODY_PREFIX), "{}", before.body);
    lab.cordon_ok(&["notice", &addr, "--reason", "lab browser notice"])
        .unwrap();
    assert_eq!(lab.state(&addr).unwrap(), "noticed");

    home.run(|| {
        let browser = Browser::open(driver.port, profile.path(), &DANISH);
        let on_the_real_site = |b: &Browser| {
            b.source().contains(BODY_PREFIX) && b.text("body").starts_with(BODY_PREFIX)
        };

        // The same address now shows the notice, in Danish, in place of
        // the article (the address bar still names the article).
        browser.goto(&article);
        assert_eq!(browser.url(), article, "{}", browser.source());
        assert_eq!(
            browser.attr("html", "lang").as_deref(),
            Some("da"),
            "{}",
            browser.source()
        );
        assert_eq!(browser.text("h1"), NOTICED_TITLE);
        let title = browser.title();
        assert!(title.starts_with(NOTICED_TITLE), "title: {title}");
        assert_eq!(browser.text("#notice-h"), CONTINUE_TITLE);
        assert_eq!(browser.text(BUTTON), NOTICE_BUTTON);
        assert_eq!(
            browser.text("section.release p.small"),
            format!("{ASKED}{article}")
        );
        browser.audit(&axe, "the notice page");
        // The tools download from the portal, not from the site asked for
        // (where a noticed subscriber's http lands on the notice again).
        let tool = browser.resolved(TOOL, "href");
        assert_eq!(tool, format!("{portal}tools/{CHECKLIST}"));
        let download = home.curl(&tool, &[]).unwrap();
        assert_eq!(download.status, Some(200), "{download:?}");
        assert_eq!(download.body.as_bytes(), checklist(), "{tool}");
        screens.save_scrolling(&browser, "1-notice");

        // English and back: the language links lead to the portal's own
        // notice, which keeps the article's address whole (`?id=7` too).
        let in_lang =
            |code: &'static str| move |b: &Browser| b.attr("html", "lang").as_deref() == Some(code);
        browser.press(&lang_link("en"), in_lang("en"));
        assert!(
            browser.url().starts_with(&format!("{portal}notice?")),
            "{}",
            browser.url()
        );
        assert_eq!(browser.attr(ASKED_FIELD, "value"), Some(article.clone()));
        assert_eq!(
            browser.text("section.release p.small"),
            format!("{ASKED_EN}{article}")
        );
        screens.save(&browser, "2-notice-en");
        browser.press(&lang_link("da"), in_lang("da"));
        assert_eq!(browser.text(BUTTON), NOTICE_BUTTON);
        assert_eq!(browser.attr(ASKED_FIELD, "value"), Some(article.clone()));

        // "I understand": back on the article, on the real site.
        browser.press(BUTTON, on_the_real_site);
        assert_eq!(browser.url(), article);
        let body = browser.text("body");
        assert!(body.contains(&format!("path: {path}")), "{body}");
        assert!(body.contains(&format!("host: {WEB_V4}")), "{body}");
        screens.save(&browser, "3-article");

        // Acknowledged: the next load of the article is the article again.
        browser.goto(&article);
        assert!(on_the_real_site(&browser), "{}", browser.source());
    })
    .unwrap();

    // Acknowledging hides the notice for the interval; it does not end it.
    assert_eq!(lab.state(&addr).unwrap(), "noticed");
}
