//! A minimal HTTP server on loopback for the client's tests: answers each
//! request from a function of its number and path, and counts requests.
#![allow(dead_code)] // each test file uses its own part

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use zdsync_zendesk::{Client, ClientConfig, Credentials};

/// One answer: status, extra header lines (each ending in `\r\n`), body.
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
    /// Announce this many more bytes than the body has, then hang up.
    pub missing_bytes: usize,
}

impl Answer {
    /// A JSON answer with no extra headers.
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Answer {
        Answer {
            status,
            head: String::new(),
            body: body.into(),
            missing_bytes: 0,
        }
    }

    /// The same answer cut short: the connection closes before the body
    /// announced has come.
    pub fn cut_short(mut self) -> Answer {
        self.missing_bytes = 100;
        self
    }

    /// The same answer with one more header line.
    pub fn with_header(mut self, name: &str, value: &str) -> Answer {
        self.head.push_str(&format!("{name}: {value}\r\n"));
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} X\r\n{}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            self.status,
            self.head,
            self.body.len() + self.missing_bytes
        )
        .into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

pub struct Server {
    pub base: String,
    pub requests: Arc<AtomicU64>,
}

impl Server {
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// Serves `answer(n, path)` to the n-th request (0-based), whose path (with
/// query) is `path`.
pub async fn serve<F>(answer: F) -> Server
where
    F: Fn(u64, &str) -> Answer + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let answer = Arc::new(answer);
    let requests = Arc::new(AtomicU64::new(0));
    let count = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::Relaxed);
            let answer = answer.clone();
            tokio::spawn(async move {
                let Some(path) = request_path(&mut sock).await else {
                    return;
                };
                let _ = sock.write_all(&answer(n, &path).bytes()).await;
            });
        }
    });
    Server { base, requests }
}

/// Reads a request's head; its path.
async fn request_path(sock: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    Some(head.split_whitespace().nth(1).unwrap_or("/").to_string())
}

/// API-token credentials for tests.
pub fn token() -> Credentials {
    Credentials::ApiToken {
        email: "admin@example.com".into(),
        token: "test-token".into(),
    }
}

/// A client of `base` with one retry and short backoff.
pub fn client(base: &str, credentials: Credentials) -> Client {
    let mut cfg = ClientConfig::new(url::Url::parse(base).expect("url"), credentials);
    cfg.max_retries = 1;
    cfg.max_backoff = std::time::Duration::from_millis(10);
    Client::new(cfg).expect("client")
}
