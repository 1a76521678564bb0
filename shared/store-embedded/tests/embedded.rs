//! The embedded adapter: the shared conformance suite plus what is specific
//! to a local file.

use std::sync::Arc;

use zdsync_store::{Blob, CursorKind, LeaseOutcome, SecretStore, Store, TicketWrite};
use zdsync_store_embedded::{EmbeddedStore, FileSecretStore};

#[tokio::test]
async fn conformance() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("s.sqlite")).unwrap();
    zdsync_store::conformance::run_all(&store).await;
    let secrets = FileSecretStore::new(&dir.path().join("secrets")).unwrap();
    zdsync_store::conformance::run_secrets(&secrets).await;
}

#[tokio::test]
async fn data_survives_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    {
        let s = EmbeddedStore::open(&path).unwrap();
        s.put_cursor("acme", CursorKind::Events, "123", None)
            .await
            .unwrap();
        s.write_tickets(
            "acme",
            &[TicketWrite::PutDocument {
                ticket_id: 1,
                blob: Blob {
                    hash: "h".into(),
                    body: "{}".into(),
                },
            }],
        )
        .await
        .unwrap();
    }
    let s = EmbeddedStore::open(&path).unwrap();
    assert_eq!(
        s.get_cursor("acme", CursorKind::Events)
            .await
            .unwrap()
            .as_deref(),
        Some("123")
    );
    assert_eq!(
        s.get_document("acme", 1).await.unwrap().as_deref(),
        Some("{}")
    );
}

#[tokio::test]
async fn a_batch_that_fails_midway_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let s = EmbeddedStore::open(&path).unwrap();
    // A trigger makes the third write of the batch fail inside the transaction.
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(
            "CREATE TRIGGER fail_on_666 BEFORE INSERT ON documents WHEN NEW.ticket_id = 666
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        )
        .unwrap();
    }
    let b = |s: &str| Blob {
        hash: s.into(),
        body: s.into(),
    };
    let err = s
        .write_tickets(
            "acme",
            &[
                TicketWrite::PutState {
                    ticket_id: 1,
                    blob: b("s1"),
                },
                TicketWrite::PutDocument {
                    ticket_id: 1,
                    blob: b("d1"),
                },
                TicketWrite::PutDocument {
                    ticket_id: 666,
                    blob: b("boom"),
                },
            ],
        )
        .await
        .expect_err("the injected failure surfaces");
    assert!(
        err.to_string().contains("nothing of this batch was stored"),
        "{err}"
    );
    assert!(
        s.get_states("acme", &[1]).await.unwrap().is_empty(),
        "state rolled back"
    );
    assert_eq!(
        s.get_document("acme", 1).await.unwrap(),
        None,
        "document rolled back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lease_attempts_give_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let s: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&dir.path().join("s.sqlite")).unwrap());
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.acquire_lease("acme", &format!("o{i}"), 1_000, 60_000)
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        if t.await.unwrap() == LeaseOutcome::Acquired {
            won += 1;
        }
    }
    assert_eq!(won, 1);
}

#[tokio::test]
async fn two_processes_share_one_file_safely() {
    // Two handles on one file (as two zdsync processes would be).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let a = EmbeddedStore::open(&path).unwrap();
    let b = EmbeddedStore::open(&path).unwrap();
    assert_eq!(
        a.acquire_lease("acme", "a", 0, 1000).await.unwrap(),
        LeaseOutcome::Acquired
    );
    assert!(matches!(
        b.acquire_lease("acme", "b", 10, 1000).await.unwrap(),
        LeaseOutcome::Held { .. }
    ));
}

#[cfg(unix)]
#[tokio::test]
async fn secrets_are_private_files_and_names_are_checked() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let sdir = dir.path().join("secrets");
    let s = FileSecretStore::new(&sdir).unwrap();
    s.put_secret("zdsync-acme", "t0ken").await.unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&sdir), 0o700);
    assert_eq!(mode(&sdir.join("zdsync-acme")), 0o600);
    for bad in ["", "../x", "a/b", ".hidden", "a\0b"] {
        assert!(s.put_secret(bad, "x").await.is_err(), "{bad:?} accepted");
    }
    assert_eq!(
        std::fs::read_dir(&sdir).unwrap().count(),
        1,
        "no temp files left"
    );
}

#[test]
fn an_unwritable_path_is_a_clear_missing_error() {
    let err = EmbeddedStore::open(std::path::Path::new("/proc/zdsync/none/s.sqlite"))
        .err()
        .expect("cannot open under /proc");
    let msg = err.to_string();
    assert!(msg.contains("--data-dir"), "{msg}");
}

#[cfg(unix)]
#[tokio::test]
async fn the_store_folder_and_file_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = data.join("zdsync.sqlite");
    let store = EmbeddedStore::open(&file).unwrap();
    store.put_run_record("acme", "{}").await.unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&file), 0o600);
    drop(store);
    // A file left readable by an earlier version is made private on open.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _again = EmbeddedStore::open(&file).unwrap();
    assert_eq!(mode(&file), 0o600);
}

#[cfg(unix)]
#[tokio::test]
async fn a_secret_is_never_written_through_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let sdir = dir.path().join("secrets");
    let s = FileSecretStore::new(&sdir).unwrap();
    let outside = dir.path().join("outside");
    std::fs::write(&outside, "untouched").unwrap();
    std::os::unix::fs::symlink(&outside, sdir.join("zdsync-acme")).unwrap();
    s.put_secret("zdsync-acme", "t0ken").await.unwrap();
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "untouched");
    let meta = std::fs::symlink_metadata(sdir.join("zdsync-acme")).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the symlink was replaced by a file"
    );
    assert_eq!(
        s.get_secret("zdsync-acme").await.unwrap().as_deref(),
        Some("t0ken")
    );
}
