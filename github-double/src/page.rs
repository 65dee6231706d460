//! GitHub's pagination: `per_page` (30 unless asked, at most 100) and `page` (from 1) pick a
//! slice of a list, and a `Link` header names the first, previous, next and last pages with the
//! request's other query parameters kept, as GitHub writes it.

use serde_json::Value;

use crate::server::{Call, Reply, encode};

const DEFAULT_PER_PAGE: usize = 30;
const MAX_PER_PAGE: usize = 100;

/// The page of `items` the request asks for, answered `200` with its `Link` header.
pub(crate) fn paginate(items: Vec<Value>, call: &Call<'_>, base_url: &str) -> Reply {
    let (slice, link) = page(items, call, base_url);
    let reply = Reply::json(hyper::StatusCode::OK, Value::Array(slice));
    match link {
        Some(link) => reply.with_header("link", link),
        None => reply,
    }
}

/// The page of `items` the request asks for and its `Link` header (none when one page holds
/// them all).
pub(crate) fn page<T>(items: Vec<T>, call: &Call<'_>, base_url: &str) -> (Vec<T>, Option<String>) {
    let number = |name: &str| call.query.get(name).and_then(|v| v.parse::<usize>().ok());
    let per_page = number("per_page").unwrap_or(DEFAULT_PER_PAGE).clamp(1, MAX_PER_PAGE);
    let page = number("page").unwrap_or(1).max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<T> = items.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    if last == 1 {
        return (slice, None);
    }
    let mut kept: Vec<(&String, &String)> = call.query.iter().filter(|(k, _)| k.as_str() != "page").collect();
    kept.sort();
    let url = |n: usize| {
        let mut query: Vec<String> = kept.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        query.push(format!("page={n}"));
        format!("<{base_url}{}?{}>", call.path, query.join("&"))
    };
    let mut rels = Vec::new();
    if page > 1 {
        rels.push(format!("{}; rel=\"prev\"", url(page - 1)));
    }
    if page < last {
        rels.push(format!("{}; rel=\"next\"", url(page + 1)));
        rels.push(format!("{}; rel=\"last\"", url(last)));
    }
    if page > 1 {
        rels.push(format!("{}; rel=\"first\"", url(1)));
    }
    (slice, Some(rels.join(", ")))
}
