//! The operator commands of the real `chatpay` binary.

use std::process::Command;

fn chatpay(db: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chatpay"))
        .args(args)
        .env("CHATPAY_DATABASE_URL", db)
        .env("CHATPAY_LOG", "warn")
        .output()
        .expect("chatpay runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn site_add_and_list_with_clear_errors() {
    let dir = std::env::temp_dir().join(format!("chatpay-cli-{}", std::process::id()));
    let db = format!("sqlite://{}/nested/chatpay.db", dir.display());

    let (ok, out, _) = chatpay(&db, &["site", "list"]);
    assert!(ok);
    assert!(out.contains("no sites yet"), "{out}");

    let (ok, out, err) = chatpay(
        &db,
        &[
            "site",
            "add",
            "--id",
            "acme",
            "--name",
            "Acme",
            "--origin",
            "https://Acme.example",
            "--origin",
            "http://localhost:3000",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("added site 'acme'"), "{out}");
    assert!(
        out.contains("data-site=\"acme\""),
        "prints the snippet: {out}"
    );

    let (ok, _, err) = chatpay(
        &db,
        &[
            "site",
            "add",
            "--id",
            "acme",
            "--name",
            "Again",
            "--origin",
            "https://a.example",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("a site with id 'acme' already exists"),
        "{err}"
    );

    let (ok, _, err) = chatpay(
        &db,
        &[
            "site",
            "add",
            "--id",
            "x",
            "--name",
            "X",
            "--origin",
            "acme.example/shop",
        ],
    );
    assert!(!ok);
    assert!(err.contains("invalid origin 'acme.example/shop'"), "{err}");

    let (ok, _, err) = chatpay(
        &db,
        &[
            "site",
            "add",
            "--id",
            "My Shop",
            "--name",
            "X",
            "--origin",
            "https://a.example",
        ],
    );
    assert!(!ok);
    assert!(err.contains("invalid site id 'My Shop'"), "{err}");

    let (ok, out, _) = chatpay(&db, &["site", "list"]);
    assert!(ok);
    assert_eq!(
        out.trim(),
        "acme\tAcme\thttp://localhost:3000 https://acme.example"
    );

    let (ok, _, err) = chatpay("mysql://x", &["site", "list"]);
    assert!(!ok);
    assert!(
        err.contains("unsupported database url 'mysql://x'"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
