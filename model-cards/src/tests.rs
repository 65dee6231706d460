use super::*;

/// A card as the controller makes it for the example repo's `churn-v3` (a fixture written by
/// `tollgate model-card churn-v3 --format json` in the examples, then given hostile text).
fn sample() -> Card {
    serde_json::from_str(include_str!("../fixtures/card.json")).expect("the fixture is a card")
}

#[test]
fn markdown_follows_the_template_sections() {
    let md = Renderer::new(None).render(&sample(), Format::Markdown).expect("render");
    let headings: Vec<&str> = md.lines().filter(|l| l.starts_with('#')).collect();
    expect_test::expect_file!["../fixtures/card.headings.txt"].assert_eq(&headings.join("\n"));
    expect_test::expect_file!["../fixtures/card.md"].assert_eq(&md);
}

#[test]
fn html_is_self_contained_and_escapes_every_value() {
    let mut card = sample();
    card.uses.limitations = Some("<script>alert(1)</script>".into());
    let html = Renderer::new(None).render(&card, Format::Html).expect("render");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "escaped");
    assert!(!html.contains("<script"), "no script at all");
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<link"), "no external assets");
    assert!(html.contains("border-collapse:collapse"), "the shared stylesheet is inline");
}

#[test]
fn json_is_the_card_itself() {
    let card = sample();
    let json = Renderer::new(None).render(&card, Format::Json).expect("render");
    let back: Card = serde_json::from_str(&json).expect("json");
    assert_eq!(back, card);
}

#[test]
fn an_organisations_copy_of_the_templates_wins() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("card.md"), "# {{ model.name }} for {{ environment }}\n").expect("write");
    let r = Renderer::new(Some(dir.path().to_owned()));
    assert_eq!(r.render(&sample(), Format::Markdown).expect("render"), "# churn for staging\n");
    // The HTML template is not in the copy: the built-in one is used.
    assert!(r.render(&sample(), Format::Html).expect("render").starts_with("<!doctype html>"));
    // A template naming what the card does not have fails at its line (a new renderer: one
    // compiles its templates once).
    std::fs::write(dir.path().join("card.md"), "{{ colour }}\n").expect("write");
    let r = Renderer::new(Some(dir.path().to_owned()));
    let err = r.render(&sample(), Format::Markdown).unwrap_err();
    assert!(matches!(&err, CardError::Render(RenderError::Template { name, line: Some(1), .. }) if name == "card.md"), "{err:?}");
}

#[test]
fn missing_fields_name_what_the_config_repo_does_not_provide() {
    let uses = Uses { intended_use: Some("weekly call list".into()), limitations: Some("  ".into()), ..Uses::default() };
    assert_eq!(
        Card::missing_fields(&uses),
        [
            "card.outOfScopeUse",
            "card.limitations",
            "card.ethicalConsiderations",
            "card.humanOversight",
            "card.trainingData",
            "card.contact"
        ]
    );
}
