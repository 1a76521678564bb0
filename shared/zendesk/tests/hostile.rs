//! Hostile or broken answers cannot crash or stall the client: absurd
//! rate-limit headers, a list whose cursor never ends, an answer far larger
//! than any Zendesk page. Served by a minimal HTTP server on loopback.

mod common;

use common::{Answer, client, serve, token};
use zdsync_zendesk::Error;

#[tokio::test]
async fn an_absurd_rate_limit_reset_does_not_crash_the_client() {
    let server = serve(|_, _| {
        Answer::json(
            200,
            br#"{"ticket_fields": [], "meta": {"has_more": false}}"#,
        )
        .with_header("ratelimit-remaining", "0")
        .with_header("ratelimit-reset", "1e19")
    })
    .await;
    let c = client(&server.base, token());
    let fields = c.ticket_fields().await.expect("first answer read");
    assert!(fields.is_empty());
}

#[tokio::test]
async fn a_list_whose_cursor_never_ends_stops_after_a_bounded_number_of_pages() {
    let server = serve(|n, _| {
        Answer::json(
            200,
            format!(
                r#"{{"ticket_fields": [], "meta": {{"has_more": true, "after_cursor": "c{n}"}}}}"#
            ),
        )
    })
    .await;
    let err = client(&server.base, token())
        .ticket_fields()
        .await
        .expect_err("an endless list is an error");
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("pages"), "{err}");
    assert_eq!(server.requests(), 1000);
}

#[tokio::test]
async fn an_answer_past_the_size_cap_is_refused_without_being_read_whole() {
    let server = serve(|_, _| {
        let mut body = br#"{"ticket_fields": ["#.to_vec();
        body.extend(std::iter::repeat_n(b' ', 65 * 1024 * 1024));
        body.extend_from_slice(b"]}");
        Answer::json(200, body)
    })
    .await;
    let err = client(&server.base, token())
        .ticket_fields()
        .await
        .expect_err("too large");
    assert!(err.to_string().contains("larger than 64 MiB"), "{err}");
}

#[tokio::test]
async fn a_body_that_does_not_decode_is_described_never_quoted() {
    let server = serve(|_, _| {
        Answer::json(
            200,
            r#"{"ticket_fields": [{"id": 1, "title": "Kundentext-Kanarienvogel"#,
        )
    })
    .await;
    let err = client(&server.base, token())
        .ticket_fields()
        .await
        .expect_err("truncated JSON");
    let said = err.to_string();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(!said.contains("Kanarienvogel"), "{said}");
    assert!(said.contains("JSON that ends early at line 1"), "{said}");
    assert!(said.contains("the body is JSON of 63 bytes"), "{said}");
}

#[tokio::test]
async fn an_error_page_is_described_never_quoted() {
    let server =
        serve(|_, _| Answer::json(403, "<html>Dear Kundentext-Kanarienvogel</html>")).await;
    let err = client(&server.base, token())
        .ticket_fields()
        .await
        .expect_err("forbidden");
    let said = err.to_string();
    assert!(!said.contains("Kanarienvogel"), "{said}");
    assert!(said.contains("an HTML or XML page"), "{said}");
}

#[tokio::test]
async fn a_body_cut_short_is_retried_like_any_failure() {
    let server = serve(|n, _| {
        let answer = Answer::json(200, r#"{"ticket_fields": [], "meta": {"has_more": false}}"#);
        if n == 0 { answer.cut_short() } else { answer }
    })
    .await;
    let c = client(&server.base, token());
    let fields = c.ticket_fields().await.expect("the second answer is whole");
    assert!(fields.is_empty());
    assert_eq!(server.requests(), 2);
    assert_eq!(c.stats().retries, 1, "one retry, counted");
}
