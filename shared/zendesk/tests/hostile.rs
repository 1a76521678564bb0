//! Hostile or broken answers cannot crash or stall the client: absurd
//! rate-limit headers, a list whose cursor never ends, an answer far larger
//! than any Zendesk page. Served by a minimal HTTP server on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use zdsync_zendesk::{Client, ClientConfig, Credentials, Error};

/// Serves `answer(n)` (head lines, body) for the n-th request.
async fn serve(answer: fn(u64) -> (String, Vec<u8>)) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(AtomicU64::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                let _ = sock.read(&mut buf).await;
                let (head, body) = answer(n);
                let mut out = format!(
                    "HTTP/1.1 200 OK\r\n{head}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                out.extend_from_slice(&body);
                let _ = sock.write_all(&out).await;
            });
        }
    });
    (base, seen)
}

fn client(base: &str) -> Client {
    let mut cfg = ClientConfig::new(
        url::Url::parse(base).expect("url"),
        Credentials::ApiToken {
            email: "admin@example.com".into(),
            token: "t".into(),
        },
    );
    cfg.max_retries = 1;
    cfg.max_backoff = std::time::Duration::from_millis(10);
    Client::new(cfg).expect("client")
}

#[tokio::test]
async fn an_absurd_rate_limit_reset_does_not_crash_the_client() {
    let (base, _) = serve(|_| {
        (
            "ratelimit-remaining: 0\r\nratelimit-reset: 1e19\r\n".into(),
            br#"{"ticket_fields": [], "meta": {"has_more": false}}"#.to_vec(),
        )
    })
    .await;
    let c = client(&base);
    let fields = c.ticket_fields().await.expect("first answer read");
    assert!(fields.is_empty());
}

#[tokio::test]
async fn a_list_whose_cursor_never_ends_stops_after_a_bounded_number_of_pages() {
    let (base, seen) = serve(|n| {
        (
            String::new(),
            format!(
                r#"{{"ticket_fields": [], "meta": {{"has_more": true, "after_cursor": "c{n}"}}}}"#
            )
            .into_bytes(),
        )
    })
    .await;
    let err = client(&base)
        .ticket_fields()
        .await
        .expect_err("an endless list is an error");
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("pages"), "{err}");
    assert_eq!(seen.load(Ordering::Relaxed), 1000);
}

#[tokio::test]
async fn an_answer_past_the_size_cap_is_refused_without_being_read_whole() {
    let (base, _) = serve(|_| {
        let mut body = br#"{"ticket_fields": ["#.to_vec();
        body.extend(std::iter::repeat_n(b' ', 65 * 1024 * 1024));
        body.extend_from_slice(b"]}");
        (String::new(), body)
    })
    .await;
    let err = client(&base).ticket_fields().await.expect_err("too large");
    assert!(err.to_string().contains("larger than 64 MiB"), "{err}");
}
