//! The live preview page in a real browser: Debian's headless Chromium, driven over the
//! DevTools protocol (headless_chrome). The page must follow saves without a reload, its width
//! and colour-scheme toggles must change the email's frame, and an error must overlay the last
//! good render. Screenshots of the page at 1280 px go to `tests/screenshots/`.

use std::{
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

use headless_chrome::{Browser, LaunchOptions, Tab, protocol::cdp::Page};

use crate::{
    harness::Test,
    watch::{BUDGET, LivePreview, TITLE},
};

fn chromium() -> PathBuf {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .expect("Chromium is not installed: run tests/run, or `apt-get install chromium`")
}

fn browser() -> Browser {
    let options = LaunchOptions::default_builder()
        .path(Some(chromium()))
        .window_size(Some((1280, 1000)))
        // The suite runs as root in a container, where Chromium's sandbox cannot start.
        .sandbox(false)
        .idle_browser_timeout(Duration::from_mins(2))
        .build()
        .expect("bad launch options");
    Browser::new(options).expect("cannot start Chromium")
}

/// The value of `expression` in the page, as JSON.
fn evaluate(tab: &Tab, expression: &str) -> serde_json::Value {
    tab.evaluate(expression, false)
        .expect("cannot evaluate in the page")
        .value
        .unwrap_or(serde_json::Value::Null)
}

/// Waits until `expression` is true in the page.
fn wait_until(tab: &Tab, expression: &str) {
    let deadline = Instant::now() + BUDGET;
    while evaluate(tab, expression) != serde_json::Value::Bool(true) {
        assert!(Instant::now() < deadline, "never true: {expression}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn screenshot(tab: &Tab, name: &str) {
    let png = tab
        .capture_screenshot(Page::CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("cannot take a screenshot");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/screenshots")
        .join(name);
    std::fs::write(&path, png).expect("cannot write the screenshot");
}

const FRAME_TEXT: &str =
    "(document.getElementById('frame').contentDocument?.body?.innerText || '')";

#[test]
fn the_page_follows_saves_and_its_toggles_change_the_frame() {
    let preview = LivePreview::start(Test::newsletters().arg("preview"));
    let browser = browser();
    let tab = browser.new_tab().expect("cannot open a tab");
    tab.navigate_to(&format!("http://{}/", preview.address))
        .and_then(|tab| tab.wait_until_navigated())
        .expect("cannot open the page");
    wait_until(&tab, &format!("{FRAME_TEXT}.includes({TITLE:?})"));
    assert_eq!(
        evaluate(
            &tab,
            "document.getElementById('frame').sandbox.contains('allow-scripts')"
        ),
        false
    );
    wait_until(
        &tab,
        "document.getElementById('inbox-subject').textContent.includes('MoU')",
    );
    screenshot(&tab, "watch-1280.png");

    // A save redraws the frame without reloading the page: the marker set here survives.
    evaluate(&tab, "window.stillTheSamePage = true");
    preview.edit_issue(|text| text.replace(TITLE, "Saved while the page was open"));
    wait_until(
        &tab,
        &format!("{FRAME_TEXT}.includes('Saved while the page was open')"),
    );
    assert_eq!(evaluate(&tab, "window.stillTheSamePage === true"), true);

    let frame_width = "document.getElementById('frame').contentWindow.innerWidth";
    wait_until(&tab, &format!("{frame_width} === 600"));
    evaluate(
        &tab,
        "document.querySelector('[data-width=\"375\"]').click()",
    );
    wait_until(&tab, &format!("{frame_width} === 375"));

    let container_colour = "(() => { const d = document.getElementById('frame').contentDocument; \
        const c = d && d.querySelector('.container'); \
        return c ? getComputedStyle(c).backgroundColor : ''; })()";
    let light = evaluate(&tab, container_colour);
    evaluate(
        &tab,
        "document.querySelector('[data-scheme=\"dark\"]').click()",
    );
    // The dark rules of templates/issue.html give the container #1b222c.
    wait_until(&tab, &format!("{container_colour} === 'rgb(27, 34, 44)'"));
    assert_ne!(light, serde_json::json!("rgb(27, 34, 44)"));
    screenshot(&tab, "watch-1280-dark-375.png");

    // A broken save: the overlay names the line, the last good email stays underneath.
    preview.edit_issue(|text| text.replace("number: 1\n", "number: one\n"));
    wait_until(&tab, "!document.getElementById('error').hidden");
    let overlay = evaluate(&tab, "document.getElementById('error').innerText");
    assert!(overlay.as_str().unwrap().contains("line 4"), "{overlay}");
    assert!(
        evaluate(
            &tab,
            &format!("{FRAME_TEXT}.includes('Saved while the page was open')")
        ) == true
    );
    screenshot(&tab, "watch-1280-error.png");
    preview.edit_issue(|text| text.replace("number: one\n", "number: 1\n"));
    wait_until(&tab, "document.getElementById('error').hidden");
}
