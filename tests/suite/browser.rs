//! A reader unsubscribing in a real browser: headless Chromium (Debian's `chromium`, installed
//! by tests/run) driven over the DevTools protocol by `headless_chrome`. It opens the footer
//! link of a previewed message, sees the page (which must not unsubscribe by itself), presses
//! the button, sees the confirmation, and the address is then in the suppression file. The
//! pages are screenshotted at 375 and 1024 px into tests/screenshots/ for people to look at; a
//! French list's pages (wording, `lang`, title) at 375 px.

use std::{path::Path, time::Duration};

use headless_chrome::{
    Browser, LaunchOptions, Tab,
    protocol::cdp::{Emulation, Page::CaptureScreenshotFormatOption},
};

use crate::serve::{Endpoint, addresses};

const ZOE: &str = "zoe.martin@example.org";

fn browser() -> Browser {
    let options = LaunchOptions::default_builder()
        .path(Some("/usr/bin/chromium".into()))
        .headless(true)
        // The suite runs as root in CI containers, where Chromium's sandbox cannot start.
        .sandbox(false)
        .window_size(Some((1024, 900)))
        .idle_browser_timeout(Duration::from_mins(2))
        .build()
        .expect("cannot build the browser options");
    Browser::new(options)
        .expect("cannot start chromium (tests/run installs it: apt-get install chromium)")
}

/// Sets the viewport to `width` CSS pixels, as a phone (375) or a desktop (1024) shows it.
fn viewport(tab: &Tab, width: u32) {
    tab.call_method(Emulation::SetDeviceMetricsOverride {
        width,
        height: 800,
        device_scale_factor: 1.0,
        mobile: width < 600,
        scale: None,
        screen_width: None,
        screen_height: None,
        position_x: None,
        position_y: None,
        dont_set_visible_size: None,
        screen_orientation: None,
        viewport: None,
        display_feature: None,
        device_posture: None,
    })
    .expect("cannot set the viewport");
}

fn screenshot(tab: &Tab, name: &str) {
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("cannot take a screenshot");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/screenshots")
        .join(name);
    std::fs::write(&path, png).expect("cannot write the screenshot");
}

#[test]
fn a_reader_unsubscribes_from_the_footer_link_in_a_browser() {
    let endpoint = Endpoint::start(&[]);
    // Preview the issue with the list's URL pointing at this endpoint (serve matches only the
    // path and query, so the same endpoint answers the real https URL behind a proxy).
    let list = std::fs::read_to_string(endpoint.path("newsletters/list.yaml")).unwrap();
    std::fs::write(
        endpoint.path("newsletters/list.yaml"),
        list.replace(
            "https://sin-singapore.example.org/unsubscribe",
            &format!("http://127.0.0.1:{}/unsubscribe", endpoint.port),
        ),
    )
    .unwrap();
    let preview = std::process::Command::new(env!("CARGO_BIN_EXE_newsletter"))
        .args([
            "preview",
            "newsletters/2019-06-uk-sg-mou.yaml",
            "--for",
            ZOE,
            "--out",
            "out",
        ])
        .current_dir(endpoint.folder())
        .env_clear()
        .env(
            "NEWSLETTER_UNSUBSCRIBE_KEY",
            crate::harness::UNSUBSCRIBE_KEY,
        )
        .output()
        .unwrap();
    assert!(
        preview.status.success(),
        "{}",
        String::from_utf8_lossy(&preview.stderr)
    );
    let message = endpoint.path("out/0002-zoe.martin_example.org.html");
    assert!(message.exists());
    let before = endpoint.suppressed();

    let browser = browser();
    let tab = browser.new_tab().unwrap();
    tab.navigate_to(&format!("file://{}", message.display()))
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    tab.wait_for_element("a[href*='/unsubscribe?']")
        .expect("the footer link")
        .click()
        .unwrap();
    tab.wait_for_element("form button")
        .expect("the unsubscribe page");
    let page = tab.get_content().unwrap();
    assert!(page.contains("SIN Singapore Bulletin"), "{page}");
    assert!(page.contains(ZOE), "{page}");
    assert_eq!(
        endpoint.suppressed(),
        before,
        "opening the page unsubscribed"
    );
    assert!(!tab.get_url().contains("zoe"), "{}", tab.get_url());

    viewport(&tab, 375);
    screenshot(&tab, "unsubscribe-confirm-375.png");
    viewport(&tab, 1024);
    screenshot(&tab, "unsubscribe-confirm-1024.png");

    tab.wait_for_element("form button")
        .unwrap()
        .click()
        .unwrap();
    let status = tab
        .wait_for_element("[role=status]")
        .unwrap_or_else(|error| {
            panic!(
                "no confirmation page ({error}); the page shows:\n{}\nthe endpoint logged:\n{}",
                tab.get_content().unwrap_or_default(),
                endpoint.stderr()
            )
        });
    let text = status.get_inner_text().unwrap();
    assert!(
        text.contains("will not receive SIN Singapore Bulletin again"),
        "{text}"
    );
    assert!(addresses(&endpoint.suppressed()).contains(&ZOE.to_owned()));
    screenshot(&tab, "unsubscribe-done-1024.png");
    viewport(&tab, 375);
    screenshot(&tab, "unsubscribe-done-375.png");

    // The page's own CSS applied (the CSP allows it by hash): the button is styled.
    tab.navigate_to(&endpoint.url("li.ming@example.com"))
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    let colour = tab
        .evaluate(
            "getComputedStyle(document.querySelector('button')).backgroundColor",
            false,
        )
        .unwrap()
        .value
        .unwrap();
    assert_eq!(colour, "rgb(29, 78, 216)");
    assert!(!endpoint.suppressed().contains("li.ming"));
}

#[test]
fn a_french_reader_unsubscribes_in_french() {
    let endpoint = Endpoint::start_in(crate::serve::list_in("fr-CA", ""), &[]);
    let browser = browser();
    let tab = browser.new_tab().unwrap();
    viewport(&tab, 375);
    tab.navigate_to(&endpoint.url(ZOE))
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    let button = tab.wait_for_element("form button").expect("the page");
    assert_eq!(button.get_inner_text().unwrap(), "Se désabonner");
    let text = |script: &str| {
        tab.evaluate(script, false)
            .unwrap()
            .value
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    assert_eq!(text("document.documentElement.lang"), "fr-CA");
    assert_eq!(
        text("document.title"),
        "Se désabonner – SIN Singapore Bulletin"
    );
    assert_eq!(
        text("document.querySelector('main p:not(.list)').innerText"),
        format!("Voulez-vous que {ZOE} ne reçoive plus SIN Singapore Bulletin\u{a0}?")
    );
    screenshot(&tab, "unsubscribe-fr-confirm-375.png");

    button.click().unwrap();
    let status = tab
        .wait_for_element("[role=status]")
        .expect("the confirmation page");
    assert_eq!(
        status.get_inner_text().unwrap(),
        format!("{ZOE} ne recevra plus SIN Singapore Bulletin.")
    );
    assert_eq!(
        text("document.querySelector('h1').innerText"),
        "Votre désabonnement est confirmé"
    );
    assert!(addresses(&endpoint.suppressed()).contains(&ZOE.to_owned()));
    screenshot(&tab, "unsubscribe-fr-done-375.png");
}
