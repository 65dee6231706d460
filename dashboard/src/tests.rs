use crate::chart::{self, Bound, Item};
use crate::{Dashboard, Message, Viewer, audit, cut, decision_href};

fn viewer() -> Viewer {
    Viewer { user: "bob<script>".into(), roles: vec!["approver".into()], csrf: "c\"sr&f".into() }
}

#[test]
fn every_value_is_escaped() {
    let html = Dashboard::new()
        .message(
            Some(&viewer()),
            &Message { heading: "<h1>x</h1>".into(), text: "a & b <img src=x>".into(), hint: Some("'quoted'".into()), back: "/".into() },
        )
        .expect("render");
    assert!(html.contains("bob&lt;script&gt;"), "{html}");
    assert!(html.contains("value=\"c&quot;sr&amp;f\""), "{html}");
    assert!(html.contains("a &amp; b &lt;img src=x&gt;"), "{html}");
    assert!(!html.contains("<img src=x>") && !html.contains("<h1>x</h1>"), "{html}");
    // The stylesheet is inline: the page needs nothing from elsewhere.
    assert!(html.contains("<style>") && !html.contains("<link") && !html.contains("<script"), "{html}");
}

#[test]
fn the_sign_in_page_shows_why_the_last_attempt_failed() {
    let html = Dashboard::new().signin(Some("that token is not valid")).expect("render");
    assert!(html.contains(r#"<p class="fail" role="alert" id="error">that token is not valid</p>"#), "{html}");
    assert!(html.contains(r#"<input id="token" name="token" type="password""#), "{html}");
    assert!(!html.contains("Sign out"), "nobody is signed in: {html}");
}

#[test]
fn bars_scale_to_the_largest_value_and_draw_the_threshold() {
    let items = [
        Item { label: "roc_auc".into(), value: Some(0.9), baseline: Some(0.8), threshold: Some((0.85, Bound::Min)), passed: Some(true) },
        Item { label: "psi (age)".into(), value: Some(2.0), baseline: None, threshold: Some((0.2, Bound::Max)), passed: Some(false) },
        Item { label: "f1".into(), value: None, baseline: None, threshold: None, passed: None },
    ];
    let c = chart::bars("quality", &items);
    assert_eq!(c.scale_max, "2");
    assert!(c.has_baseline);
    let r = &c.rows[0];
    assert_eq!((r.bars[0].w, r.bars[1].w), (0.9 / 2.0 * 300.0, 0.8 / 2.0 * 300.0));
    assert_eq!(r.bars[1].class, "baseline");
    assert_eq!(r.line.as_ref().map(|l| (l.x, l.text.as_str())), Some((170.0 + 0.85 / 2.0 * 300.0, "min 0.85")));
    assert_eq!((r.threshold.as_str(), r.outcome), ("≥ 0.85", "pass"));
    assert_eq!((c.rows[1].bars[0].class, c.rows[1].outcome), ("candidate fail", "fail"));
    assert_eq!((c.rows[2].value.as_str(), c.rows[2].bars[0].w), ("—", 0.0));
    assert_eq!(chart::number(Some(0.5)), "0.5");
    assert_eq!(chart::number(Some(f64::NAN)), "NaN");
}

/// The chart macro alone, with a page that draws one chart.
const CHART_ONLY: &[(&str, &str)] = &[
    ("chart.html", include_str!("../templates/chart.html")),
    ("t.html", "{% import \"chart.html\" as chart %}{{ chart.bars(c, \"x\") }}"),
];

#[test]
fn a_chart_renders_as_inline_svg_with_a_title_and_a_table() {
    let c = chart::bars(
        "drift <per column>",
        &[Item { label: "ks & co".into(), value: Some(0.1), baseline: None, threshold: Some((0.05, Bound::Min)), passed: Some(true) }],
    );
    let html = tollgate_render::Engine::new(CHART_ONLY, None).render("t.html", serde_json::json!({"c": c})).expect("render");
    assert!(html.contains(r#"<svg role="img" aria-labelledby="x-t""#), "{html}");
    assert!(html.contains(r#"<title id="x-t">drift &lt;per column&gt;</title>"#), "{html}");
    assert!(html.contains(r#"<line class="threshold" x1="185.0""#), "{html}");
    assert!(html.contains(r#"<tr><th scope="row">ks &amp; co</th><td>0.1</td><td>≥ 0.05</td><td class="pass">pass</td></tr>"#), "{html}");
}

#[test]
fn links_and_searches() {
    assert_eq!(decision_href("a b/c", "prod"), "/releases/a%20b%2Fc/environments/prod");
    assert_eq!(cut("abcdef", 3), "abc…");
    assert_eq!(cut("abc", 3), "abc");
    assert!(audit::matches("", 1, "a", "b", "c"));
    assert!(audit::matches("APPROVAL", 1, "bob", "record.approval", "approval/x/y"));
    assert!(audit::matches("7", 7, "bob", "x", "y") && !audit::matches("7", 8, "bob7", "x", "y"));
    assert!(!audit::matches("carol", 1, "bob", "x", "y"));
    assert_eq!(audit::older_link("a b", 9), "/audit?q=a%20b&before=9");
}
