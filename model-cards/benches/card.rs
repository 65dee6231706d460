//! Model card generation time: a card of the example repo's `churn-v3` (the fixture) rendered
//! as Markdown, HTML and JSON with the built-in templates, and the renderer's set-up.
//!
//! `cargo bench -p tollgate-model-cards --bench card`

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tollgate_model_cards::{Card, Format, Renderer};

fn cards(c: &mut Criterion) {
    let card: Card = serde_json::from_str(include_str!("../fixtures/card.json")).expect("the fixture is a card");
    let renderer = Renderer::new(None);
    for (name, format) in [("markdown", Format::Markdown), ("html", Format::Html), ("json", Format::Json)] {
        c.bench_function(&format!("model_card/{name}"), |b| b.iter(|| renderer.render(black_box(&card), format).expect("render")));
    }
    c.bench_function("model_card/new_renderer_and_html", |b| {
        b.iter(|| Renderer::new(None).render(black_box(&card), Format::Html).expect("render"))
    });
}

criterion_group!(benches, cards);
criterion_main!(benches);
