//! The report in a real browser: headless Chromium (Debian's `chromium`) opens the file, the
//! test reads the DOM as rendered, after the page's script ran (`--dump-dom`), for the headline
//! numbers and a table the script sorted from the link's `#sort=`, and keeps a screenshot in
//! tests/out/review/ (CI's artefact). A missing Chromium fails the test: CI installs it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: failing loudly is the point

#[path = "review/mod.rs"]
mod review;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use review::{code, fixture, out_dir, run, stderr, sync_lines, taken_at};

fn chromium() -> PathBuf {
    let name = std::env::var_os("CHROMIUM").unwrap_or_else(|| "chromium".into());
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(&name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "{} not found on PATH: install Debian's chromium (apt-get install -y chromium; \
             .ci/run does), or set CHROMIUM to the browser",
            name.to_string_lossy()
        )
    })
}

/// Runs headless Chromium on `url` with `args`, in a profile of its own (tests run in
/// parallel); its stdout. Killed after 90 s.
fn browse(args: &[&str], url: &str, profile: &Path) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    // Read while it runs: a DOM is larger than a pipe holds.
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s: {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(
        status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&stderr)
    );
    String::from_utf8(stdout).unwrap()
}

/// The start tag of the element with `id` and the text up to its end tag.
fn element<'a>(dom: &'a str, id: &str) -> (&'a str, &'a str) {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element #{id} in the DOM"));
    let start = dom[..at].rfind('<').unwrap();
    let tag_end = start + dom[start..].find('>').unwrap();
    let name: String = dom[start + 1..]
        .chars()
        .take_while(|c| c.is_alphanumeric())
        .collect();
    let body_end = tag_end + dom[tag_end..].find(&format!("</{name}>")).unwrap();
    (&dom[start..=tag_end], &dom[tag_end + 1..body_end])
}

fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

/// The first cell of each body row of table `id`, as rendered.
fn first_column(dom: &str, id: &str) -> Vec<String> {
    let (_, table) = element(dom, id);
    let body = &table[table.find("<tbody>").unwrap()..];
    body.split("<tr")
        .skip(1)
        .map(|row| {
            let cell_start = row.find("<th").unwrap();
            let cell_end = row.find("</th>").unwrap();
            text(&row[cell_start..cell_end])
        })
        .collect()
}

#[test]
fn chromium_renders_the_headline_and_sorts_and_filters_the_tables() {
    let dir = out_dir("browser");
    let page = dir.join("report.html");
    let o = run(&[
        "report",
        &fixture("after.jsonl"),
        "--previous",
        &fixture("before.jsonl"),
        "--taken-at",
        &taken_at(),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let url = format!("file://{}", page.display());
    // Chromium's profile (caches, crash reports) is no artefact.
    let profile = std::env::temp_dir().join(format!("review-chromium-{}", std::process::id()));

    // Sorted by failed sign-ins, most first, from the link alone.
    let dom = browse(
        &["--dump-dom"],
        &format!("{url}#sort=accounts:failed:desc"),
        &profile,
    );
    let html_tag = &dom[dom.find("<html").unwrap()..];
    let html_tag = &html_tag[..=html_tag.find('>').unwrap()];
    assert!(
        html_tag.contains("data-script=\"ready\""),
        "the page's script ran: {html_tag}"
    );

    // The headline as rendered equals what the sync holds.
    let lines = sync_lines(&fixture("after.jsonl"));
    let accounts = lines
        .iter()
        .filter(|l| l["type"] == "resource" && l["user"].is_object())
        .count();
    let disabled = lines
        .iter()
        .filter(|l| l["user"]["status"] == "disabled")
        .count();
    let roles = lines
        .iter()
        .filter(|l| l["type"] == "resource" && l["resource_type"] == "role")
        .count();
    for (id, want) in [
        ("n-accounts", accounts),
        ("n-disabled", disabled),
        ("n-roles", roles),
        ("n-privileged", 17),
        ("n-changes", 3),
        ("n-high", 2),
    ] {
        let (_, body) = element(&dom, id);
        assert_eq!(text(body), want.to_string(), "#{id}");
    }

    // The accounts table, which the page lists by account id, now runs by failed sign-ins.
    let (accounts_table, _) = element(&dom, "t-accounts");
    assert!(
        accounts_table.contains("data-sorted=\"failed:desc\""),
        "{accounts_table}"
    );
    assert!(dom.contains("data-key=\"failed\" data-type=\"num\" aria-sort=\"descending\""));
    let order = first_column(&dom, "t-accounts");
    assert_eq!(order.len(), accounts);
    assert_eq!(order[0], "rev.locked", "8 failed sign-ins come first");
    let source = std::fs::read_to_string(&page).unwrap();
    assert_eq!(
        first_column(&source, "t-accounts")[0],
        "aaliyah.li+qa",
        "the file itself lists accounts by id"
    );

    // A filter from the link: one privileged account holds the custom role.
    let dom = browse(
        &["--dump-dom"],
        &format!("{url}#filter=privileged:Access%20Manager"),
        &profile,
    );
    let (privileged, _) = element(&dom, "t-privileged");
    assert!(privileged.contains("data-shown=\"1\""), "{privileged}");
    assert!(dom.contains("1 of 17 rows"));

    // The screenshot CI keeps.
    let shot = dir.join("report.png");
    browse(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,2400",
        ],
        &format!("{url}#sort=accounts:failed:desc"),
        &profile,
    );
    let _ = std::fs::remove_dir_all(&profile);
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} is a screenshot",
        shot.display()
    );
}
