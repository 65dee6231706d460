use super::*;
use serde_json::json;

const BUILTIN: &[(&str, &str)] = &[
    ("page.html", "<p>{{ name }}</p>{% if raw %}{{ raw|safe }}{% endif %}"),
    ("card.md", "# {{ name }}\n"),
    ("broken.html", "<p>{{ name }</p>"),
    ("missing-field.html", "<p>\n{{ name }}\n{{ nope }}</p>"),
];

#[test]
fn html_templates_escape_values_and_markdown_templates_do_not() {
    let engine = Engine::new(BUILTIN, None);
    let ctx = json!({"name": "<script>alert(1)</script> & \"q\"", "raw": null});
    assert_eq!(engine.render("page.html", &ctx).unwrap(), "<p>&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; &quot;q&quot;</p>");
    assert_eq!(engine.render("card.md", &ctx).unwrap(), "# <script>alert(1)</script> & \"q\"\n");
    let ctx = json!({"name": "a", "raw": "<b>b</b>"});
    assert_eq!(engine.render("page.html", &ctx).unwrap(), "<p>a</p><b>b</b>");
}

#[test]
fn an_undefined_field_is_an_error_with_the_template_and_line() {
    let engine = Engine::new(BUILTIN, None);
    let err = engine.render("missing-field.html", json!({"name": "a"})).unwrap_err();
    match &err {
        RenderError::Template { name, line, .. } => {
            assert_eq!(name, "missing-field.html");
            assert_eq!(*line, Some(3));
        }
        other => panic!("unexpected {other:?}"),
    }
    let err = engine.render("broken.html", json!({"name": "a"})).unwrap_err();
    assert!(matches!(err, RenderError::Template { line: Some(1), .. }), "{err:?}");
    assert!(matches!(engine.render("nope.html", json!({})).unwrap_err(), RenderError::Missing { .. }));
}

#[test]
fn a_directory_template_wins_and_names_stay_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("card.md"), "## {{ name }} (ours)\n").unwrap();
    let engine = Engine::new(BUILTIN, Some(dir.path().to_owned()));
    assert_eq!(engine.render("card.md", json!({"name": "m"})).unwrap(), "## m (ours)\n");
    assert_eq!(engine.render("page.html", json!({"name": "m", "raw": null})).unwrap(), "<p>m</p>");
    let err = engine.render("../card.md", json!({"name": "m"})).unwrap_err();
    assert!(matches!(err, RenderError::OutsideDir { .. }), "{err:?}");
    let err = engine.render("/etc/passwd", json!({})).unwrap_err();
    assert!(matches!(err, RenderError::OutsideDir { .. }), "{err:?}");
}

#[test]
fn the_shared_stylesheet_is_available_to_every_family() {
    const PAGE: &[(&str, &str)] = &[("p.html", "<style>{% include \"style.css\" %}</style>")];
    let out = Engine::new(PAGE, None).render("p.html", serde_json::json!({})).unwrap();
    assert!(out.starts_with("<style>/* tollgate's one stylesheet"), "{out}");
    assert!(out.contains(".pass{color:#1a7f37"), "{out}");
}
