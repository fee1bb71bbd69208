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
    assert!(out.contains("data-site=\"acme\""), "prints the snippet: {out}");

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
    assert!(err.contains("a site with id 'acme' already exists"), "{err}");

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
        "acme\tAcme\thttp://localhost:3000 https://acme.example\t(no account yet)"
    );

    let (ok, _, err) = chatpay("mysql://x", &["site", "list"]);
    assert!(!ok);
    assert!(err.contains("unsupported database url 'mysql://x'"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

mod common;

/// `chatpay stripe …` against a relay serving the simulator, sharing its database and key.
/// Secrets go in as a person or a script would give them: `--secret-key K` and
/// `--webhook-secret W` here become the environment variables the CLI reads.
async fn chatpay_against(app: &common::TestApp, args: &[&str]) -> (bool, String, String) {
    let mut plain = Vec::new();
    let mut env = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "--secret-key" => env.push(("CHATPAY_STRIPE_SECRET_KEY", *it.next().unwrap())),
            "--webhook-secret" => env.push(("CHATPAY_STRIPE_WEBHOOK_SECRET", *it.next().unwrap())),
            other => plain.push(other),
        }
    }
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_chatpay"))
        .args(&plain)
        .envs(env)
        .env("CHATPAY_DATABASE_URL", &app.db.url)
        .env("CHATPAY_SECRET_KEY", common::SECRET_KEY_HEX)
        .env("CHATPAY_STRIPE_API_BASE", app.url("/simulator/stripe"))
        .env("CHATPAY_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("chatpay runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn stripe_connect_tests_the_key_and_status_never_shows_a_secret() {
    let app = common::TestApp::spawn(common::Backend::Sqlite).await;

    // A key Stripe refuses: the reason is Stripe's.
    let (ok, _, err) = chatpay_against(
        &app,
        &[
            "stripe",
            "connect",
            "--site",
            "shop",
            "--secret-key",
            "sk_test_invalid000000000",
        ],
    )
    .await;
    assert!(!ok);
    assert!(
        err.contains("Stripe refused the key sk_test_…0000: Invalid API Key provided"),
        "{err}"
    );
    // A pasted publishable key: said so before any request.
    let (ok, _, err) = chatpay_against(
        &app,
        &[
            "stripe",
            "connect",
            "--site",
            "shop",
            "--secret-key",
            "pk_test_abcdefghijklmnop",
        ],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("publishable key"), "{err}");
    let (ok, _, err) = chatpay_against(
        &app,
        &[
            "stripe",
            "connect",
            "--site",
            "shop",
            "--secret-key",
            common::STRIPE_KEY,
            "--webhook-secret",
            "sk_test_oops0000000",
        ],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("whsec_"), "{err}");
    let (ok, _, err) = chatpay_against(&app, &["stripe", "status", "--site", "nope"]).await;
    assert!(!ok);
    assert!(err.contains("no site 'nope'"), "{err}");

    // A good simulator key and a webhook secret.
    let whsec = "whsec_clitest1234567890abcdef";
    let (ok, out, err) = chatpay_against(
        &app,
        &[
            "stripe",
            "connect",
            "--site",
            "shop",
            "--secret-key",
            common::STRIPE_KEY,
            "--webhook-secret",
            whsec,
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains("connected to Stripe in test mode with key sk_test_…0000"),
        "{out}"
    );

    let (ok, out, _) = chatpay_against(&app, &["stripe", "status", "--site", "shop"]).await;
    assert!(ok);
    assert!(out.contains("mode:            test"), "{out}");
    assert!(out.contains("sk_test_…0000"), "{out}");
    assert!(out.contains("whsec_…cdef"), "{out}");
    assert!(
        !out.contains(common::STRIPE_KEY) && !out.contains(whsec),
        "no full secret: {out}"
    );

    // What is stored is encrypted: neither secret appears in the database file.
    let path = app.db.url.trim_start_matches("sqlite://").to_owned();
    let mut raw = std::fs::read(&path).unwrap_or_default();
    raw.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
    let raw = String::from_utf8_lossy(&raw);
    assert!(
        !raw.contains(common::STRIPE_KEY) && !raw.contains(whsec),
        "secrets are encrypted at rest"
    );
    app.stop().await;
}

#[test]
fn workflow_validate_import_and_export() {
    let dir = std::env::temp_dir().join(format!("chatpay-cli-wf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/chatpay.db", dir.display());
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo-workflow.json");

    let (ok, out, err) = chatpay(&db, &["workflow", "validate", demo]);
    assert!(ok, "{err}");
    assert!(out.contains("valid (9 nodes, starts at 'greet')"), "{out}");

    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"format":1,"start":"a","nodes":[
            {"id":"a","type":"request_payment","amount":{"fixed":"49.5"},"currency":"JPY","description":"x","next":"nowhere"},
            {"id":"b","type":"ask","text":"?","variable":"v","pattern":"([a-z"}]}"#,
    )
    .unwrap();
    let (ok, _, err) = chatpay(&db, &["workflow", "validate", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("problem(s)"), "{err}");
    assert!(
        err.contains("node 'a', amount: invalid amount '49.5' for JPY: JPY has no decimals"),
        "{err}"
    );
    assert!(err.contains("node 'a', next: unknown node 'nowhere'"), "{err}");
    assert!(err.contains("node 'b': this node is unreachable"), "{err}");
    assert!(
        err.contains("node 'b', pattern: the pattern does not compile"),
        "{err}"
    );

    std::fs::write(&bad, "{\"format\":1}").unwrap();
    let (ok, _, err) = chatpay(&db, &["workflow", "validate", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("is not a workflow: missing field"), "{err}");

    chatpay(
        &db,
        &[
            "site",
            "add",
            "--id",
            "wf",
            "--name",
            "WF",
            "--origin",
            "https://wf.example",
        ],
    );
    let (ok, _, err) = chatpay(&db, &["workflow", "export", "--site", "wf"]);
    assert!(!ok);
    assert!(err.contains("has no workflow yet"), "{err}");
    let (ok, out, err) = chatpay(&db, &["workflow", "import", "--site", "wf", demo]);
    assert!(ok, "{err}");
    assert!(out.contains("as version 1 of site 'wf'"), "{out}");
    let (ok, out, _) = chatpay(&db, &["workflow", "import", "--site", "wf", demo]);
    assert!(ok && out.contains("version 2"), "{out}");
    let (ok, out, _) = chatpay(&db, &["workflow", "export", "--site", "wf"]);
    assert!(ok);
    let exported: serde_json::Value = serde_json::from_str(&out).unwrap();
    let original: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(demo).unwrap()).unwrap();
    assert_eq!(exported, original);
    let _ = std::fs::remove_dir_all(dir);
}

/// `chatpay` with `stdin` piped in.
fn chatpay_with_stdin(db: &str, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatpay"))
        .args(args)
        .envs(env.iter().copied())
        .env("CHATPAY_DATABASE_URL", db)
        .env("CHATPAY_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("chatpay runs");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Passwords and Stripe secrets never come from the command line (shell history, `ps`):
/// from standard input, the environment or a prompt; a weak password is refused with why.
#[test]
fn secrets_stay_off_the_command_line_and_weak_passwords_are_refused() {
    let dir = std::env::temp_dir().join(format!("chatpay-cli-secrets-{}", std::process::id()));
    let db = format!("sqlite://{}/chatpay.db", dir.display());

    let (ok, _, err) = chatpay(&db, &["user", "add", "--email", "a@shop.test", "--password", "x"]);
    assert!(!ok);
    assert!(err.contains("--password"), "{err}");

    let (ok, _, err) = chatpay_with_stdin(
        &db,
        &["user", "add", "--email", "a@shop.test", "--password-stdin"],
        "aaaaaaaaaa\n",
        &[],
    );
    assert!(!ok);
    assert!(err.contains("too easy to guess"), "{err}");

    // No terminal, no stdin flag, no variable: said how to give it.
    let (ok, _, err) = chatpay_with_stdin(&db, &["user", "add", "--email", "a@shop.test"], "", &[]);
    assert!(!ok);
    assert!(
        err.contains("--password-stdin") && err.contains("CHATPAY_USER_PASSWORD"),
        "{err}"
    );

    let (ok, out, err) = chatpay_with_stdin(
        &db,
        &["user", "add", "--email", "a@shop.test", "--password-stdin"],
        "granite ladder sunrise vortex\n",
        &[],
    );
    assert!(ok, "{err}");
    assert!(out.contains("added the console account a@shop.test"), "{out}");

    // Stripe secrets from stdin: the key is checked (a publishable key is refused before
    // any request), the webhook secret too.
    chatpay(
        &db,
        &[
            "site",
            "add",
            "--id",
            "shop",
            "--name",
            "Shop",
            "--origin",
            "https://shop.test",
        ],
    );
    let (ok, _, err) = chatpay_with_stdin(
        &db,
        &["stripe", "connect", "--site", "shop", "--secrets-stdin"],
        "pk_test_abcdefghijklmnop\n\n",
        &[],
    );
    assert!(!ok);
    assert!(err.contains("publishable key"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A site added once console accounts exist belongs to one of them (before, it belonged to
/// nobody, and no account could see it): the one account there is, or the one `--owner`
/// names; with several and none named, the command asks. `site give` hands a site over, and
/// `site list` says whose each is.
#[test]
fn sites_added_after_the_first_account_belong_to_an_account() {
    let dir = std::env::temp_dir().join(format!("chatpay-cli-owner-{}", std::process::id()));
    let db = format!("sqlite://{}/chatpay.db", dir.display());
    let add = |id: &str, owner: Option<&str>| {
        let mut args = vec![
            "site",
            "add",
            "--id",
            id,
            "--name",
            id,
            "--origin",
            "https://shop.test",
        ];
        if let Some(o) = owner {
            args.extend(["--owner", o]);
        }
        chatpay(&db, &args)
    };
    let user = |email: &str| {
        let (ok, _, err) = chatpay_with_stdin(
            &db,
            &["user", "add", "--email", email, "--password-stdin"],
            "granite ladder sunrise vortex\n",
            &[],
        );
        assert!(ok, "{err}");
    };

    let (ok, out, err) = add("before", None);
    assert!(ok, "{err}");
    assert!(out.contains("the first console account will own it"), "{out}");
    let (ok, _, err) = add("nobody", Some("ghost@shop.test"));
    assert!(!ok);
    assert!(
        err.contains("no console account 'ghost@shop.test'")
            && err.contains("chatpay user add --email ghost@shop.test"),
        "{err}"
    );

    user("one@shop.test");
    let (ok, out, err) = add("second", None);
    assert!(ok, "{err}");
    assert!(out.contains("it belongs to one@shop.test"), "{out}");

    user("two@shop.test");
    let (ok, _, err) = add("third", None);
    assert!(!ok, "with two accounts it asks whose");
    assert!(
        err.contains("there are 2 console accounts")
            && err.contains("--owner EMAIL")
            && err.contains("one@shop.test, two@shop.test"),
        "{err}"
    );
    let (ok, _, err) = add("third", Some("ghost@shop.test"));
    assert!(!ok);
    assert!(
        err.contains("the accounts are: one@shop.test, two@shop.test"),
        "{err}"
    );
    let (ok, out, err) = add("third", Some("two@shop.test"));
    assert!(ok, "{err}");
    assert!(out.contains("it belongs to two@shop.test"), "{out}");

    let (ok, out, err) = chatpay(
        &db,
        &["site", "give", "--id", "second", "--owner", "two@shop.test"],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("site 'second' now belongs to two@shop.test"),
        "{out}"
    );
    let (ok, _, err) = chatpay(
        &db,
        &["site", "give", "--id", "missing", "--owner", "two@shop.test"],
    );
    assert!(!ok);
    assert!(err.contains("missing"), "{err}");

    let (ok, out, _) = chatpay(&db, &["site", "list"]);
    assert!(ok);
    let owner_of = |id: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{id}\t")))
            .and_then(|l| l.rsplit('\t').next())
            .map(str::to_owned)
    };
    // The first account took the site made before it.
    assert_eq!(owner_of("before").as_deref(), Some("one@shop.test"), "{out}");
    assert_eq!(owner_of("second").as_deref(), Some("two@shop.test"), "{out}");
    assert_eq!(owner_of("third").as_deref(), Some("two@shop.test"), "{out}");
    let _ = std::fs::remove_dir_all(dir);
}

/// One `chatpay serve` per SQLite file: a second is refused with what to do, while the CLI
/// keeps working beside the running relay.
#[test]
fn a_second_serve_on_one_sqlite_file_is_refused() {
    let dir = std::env::temp_dir().join(format!("chatpay-cli-lock-{}", std::process::id()));
    let db = format!("sqlite://{}/chatpay.db", dir.display());
    let port = |p: u16| format!("127.0.0.1:{p}");
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let mut first = Command::new(env!("CARGO_BIN_EXE_chatpay"))
        .args(["serve", "--listen", &port(free())])
        .env("CHATPAY_DATABASE_URL", &db)
        .env("CHATPAY_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::path::Path::new(&format!("{}/chatpay.db.serve-lock", dir.display())).exists() {
        assert!(std::time::Instant::now() < deadline, "the first relay started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (ok, _, err) = chatpay(&db, &["serve", "--listen", &port(free())]);
    assert!(!ok);
    assert!(
        err.contains("another `chatpay serve` is already using") && err.contains("PostgreSQL"),
        "{err}"
    );
    let (ok, out, _) = chatpay(&db, &["site", "list"]);
    assert!(ok, "the CLI works beside the relay");
    assert!(out.contains("no sites yet"), "{out}");
    first.kill().unwrap();
    first.wait().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
