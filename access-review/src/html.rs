//! The report as one self-contained HTML page: styles and the small sorting/filtering script
//! are inlined from `assets/`, nothing is fetched (the page's Content-Security-Policy forbids
//! it), and every value from the sync is escaped. Without the script the tables are still
//! complete, in the order the report chose.

use crate::report::{self, ColKind, Section};
use crate::review::{Review, Severity};
use crate::time;

const TEMPLATE: &str = include_str!("../assets/report.html");
const STYLE: &str = include_str!("../assets/report.css");
const SCRIPT: &str = include_str!("../assets/report.js");

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Fills `{{name}}` placeholders of the template only: a value that happens to contain
/// `{{…}}` is not expanded again.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest.get(start + 2..).and_then(|r| r.find("}}")) else {
            break;
        };
        let name = rest.get(start + 2..start + 2 + len).unwrap_or("");
        out.push_str(rest.get(..start).unwrap_or(""));
        match values.iter().find(|(n, _)| *n == name) {
            Some((_, v)) => out.push_str(v),
            None => out.push_str(rest.get(start..start + 4 + len).unwrap_or("")),
        }
        rest = rest.get(start + 4 + len..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

fn headline(r: &Review) -> String {
    let h = r.headline();
    let mut cards: Vec<(&str, &str, usize, &str)> = vec![
        ("n-accounts", "Accounts", h.accounts, "#accounts"),
        ("n-enabled", "Enabled", h.enabled, "#accounts"),
        ("n-disabled", "Disabled", h.disabled, "#accounts"),
    ];
    if h.other_status > 0 {
        cards.push(("n-other", "Status unknown", h.other_status, "#accounts"));
    }
    cards.push(("n-roles", "Roles", h.roles, "#roles"));
    cards.push((
        "n-privileged",
        "Admin-equivalent accounts",
        h.privileged,
        "#privileged",
    ));
    let mut s = String::from("<dl class=\"headline\">\n");
    for (id, label, n, href) in cards {
        s.push_str(&format!(
            "<div><dt>{label}</dt><dd id=\"{id}\" data-value=\"{n}\"><a href=\"{href}\">{n}</a></dd></div>\n"
        ));
    }
    for (sev, n) in [
        (Severity::High, h.high),
        (Severity::Medium, h.medium),
        (Severity::Low, h.low),
    ] {
        s.push_str(&format!(
            "<div class=\"sev-{0}\"><dt>Findings, {0}</dt><dd id=\"n-{0}\" data-value=\"{n}\">{n}</dd></div>\n",
            sev.label()
        ));
    }
    if let Some(d) = &r.drift {
        let n = d.changes.len();
        s.push_str(&format!(
            "<div><dt>Changes since the previous sync</dt><dd id=\"n-changes\" data-value=\"{n}\"><a href=\"#drift\">{n}</a></dd></div>\n"
        ));
    }
    s.push_str("</dl>\n");
    s
}

fn section(s: &Section) -> String {
    let mut out = format!(
        "<section id=\"{}\">\n<h2>{} <span class=\"count\">({})</span></h2>\n<p class=\"intro\">{}</p>\n",
        s.id,
        escape(&s.title),
        s.table.rows.len(),
        escape(&s.intro)
    );
    if s.table.rows.is_empty() {
        out.push_str(&format!("<p class=\"empty\">{}</p>\n", escape(s.empty)));
        out.push_str("</section>\n");
        return out;
    }
    out.push_str(&format!(
        "<div class=\"scroll\"><table class=\"data\" id=\"t-{}\" data-table=\"{}\">\n<thead><tr>",
        s.id, s.id
    ));
    for c in &s.table.columns {
        out.push_str(&format!(
            "<th scope=\"col\" data-key=\"{}\" data-type=\"{}\">{}</th>",
            c.key,
            match c.kind {
                ColKind::Num => "num",
                ColKind::Text => "text",
            },
            escape(c.label)
        ));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &s.table.rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let mut attrs = String::new();
            if let Some(class) = cell.class {
                attrs.push_str(&format!(" class=\"{class}\""));
            }
            if let Some(sort) = &cell.sort {
                attrs.push_str(&format!(" data-sort=\"{}\"", escape(sort)));
            }
            let tag = if i == 0 { "th scope=\"row\"" } else { "td" };
            let close = if i == 0 { "th" } else { "td" };
            out.push_str(&format!("<{tag}{attrs}>{}</{close}>", escape(&cell.text)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table></div>\n</section>\n");
    out
}

pub fn render(r: &Review) -> String {
    let sections = report::sections(r);
    let mut body = String::new();
    body.push_str(&format!(
        "<header>\n<h1>Access review</h1>\n<p class=\"meta\">Sync <code>{}</code>, taken \
         <time id=\"taken-at\" datetime=\"{}\">{}</time> ({}).</p>\n",
        escape(&report::file_name(&r.source)),
        time::iso(r.taken_at.at),
        time::display(r.taken_at.at),
        escape(&r.taken_at.source)
    ));
    if !r.resource_types.is_empty() {
        let types: Vec<String> = r
            .resource_types
            .iter()
            .map(|t| {
                if t.description.is_empty() {
                    format!("<code>{}</code>", escape(&t.id))
                } else {
                    format!(
                        "<code>{}</code> ({})",
                        escape(&t.id),
                        escape(&t.description)
                    )
                }
            })
            .collect();
        body.push_str(&format!(
            "<p class=\"meta\">What the sync holds: {}.</p>\n",
            types.join("; ")
        ));
    }
    body.push_str("</header>\n<main>\n<section id=\"summary\">\n<h2>Summary</h2>\n");
    body.push_str(&headline(r));
    let t = &r.thresholds;
    body.push_str(&format!(
        "<h3>Thresholds used</h3>\n<ul class=\"thresholds\">\n\
         <li id=\"threshold-stale\">Stale: no sign-in for <b>{0}</b> days or more; never signed \
         in and created <b>{0}</b> days or more before the sync (<code>--stale-days</code>)</li>\n\
         <li id=\"threshold-failed\">Failed sign-ins: <b>{1}</b> or more \
         (<code>--failed-sign-ins</code>)</li>\n\
         <li id=\"threshold-builtin\">Built-in roles: {2}; any other role is custom \
         (<code>--builtin-roles</code>)</li>\n\
         <li>Admin-equivalent: a role or account that can create, change or delete accounts, \
         roles or permissions, or other people's passwords, whatever its name</li>\n</ul>\n",
        t.stale_days,
        t.failed_sign_ins,
        escape(&t.builtin_roles.join(", "))
    ));
    for note in r.coverage.notes() {
        body.push_str(&format!("<p class=\"note\">{}</p>\n", escape(note)));
    }
    body.push_str("<nav><h3>Sections</h3><ol>\n");
    for s in &sections {
        body.push_str(&format!(
            "<li><a href=\"#{}\">{}</a> ({})</li>\n",
            s.id,
            escape(&s.title),
            s.table.rows.len()
        ));
    }
    body.push_str("</ol></nav>\n</section>\n");
    for s in &sections {
        body.push_str(&section(s));
    }
    body.push_str(
        "</main>\n<footer><p>Made by <code>host-harness report</code> from the sync file alone. \
         Click a column heading to sort; type in a table's filter box to narrow it. Every table \
         is also written as CSV with <code>--csv DIR</code>.</p></footer>\n",
    );
    let title = format!("Access review: {}", report::file_name(&r.source));
    fill(
        TEMPLATE,
        &[
            ("title", &escape(&title)),
            ("style", STYLE),
            ("script", SCRIPT),
            ("body", &body),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_fills_only_the_template() {
        assert_eq!(
            escape("<script>'x' & \"y\"</script>"),
            "&lt;script&gt;&#39;x&#39; &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(
            fill("a {{x}} b {{y}} {{unknown}}", &[("x", "{{y}}"), ("y", "Y")]),
            "a {{y}} b Y {{unknown}}"
        );
    }

    #[test]
    fn the_page_fetches_nothing() {
        for asset in [TEMPLATE, STYLE, SCRIPT] {
            for banned in ["http://", "https://", "@import", "url(", "src="] {
                assert!(!asset.contains(banned), "`{banned}` in an asset");
            }
        }
        assert!(TEMPLATE.contains("Content-Security-Policy"));
    }
}
