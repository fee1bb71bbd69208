//! PostgreSQL for the tests: the server at `CHATPAY_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). If nothing answers there, install and
//! start Debian's PostgreSQL; if that is impossible, fail saying how to point the tests at
//! one. The tests never skip PostgreSQL silently. Each test makes its own fresh database.

use std::net::{TcpStream, ToSocketAddrs};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Result};

use crate::{sh, step};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Returns the admin URL the tests should use.
pub fn ensure() -> Result<String> {
    let url = std::env::var("CHATPAY_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let addr = host_port(&url);
    step(&format!("checking PostgreSQL at {addr}"));
    if answers(&addr) {
        return Ok(url);
    }
    let local = addr.starts_with("127.0.0.1:") || addr.starts_with("localhost:");
    if local && std::env::var("CHATPAY_TEST_PG_URL").is_err() {
        step("no PostgreSQL answers; installing and starting Debian's postgresql");
        let _ = start_debian_postgres();
        for _ in 0..30 {
            if answers(&addr) {
                return Ok(url);
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    bail!(
        "no PostgreSQL answers at {addr}. The tests run against PostgreSQL as well as SQLite and \
         never skip it: start one there (trust auth, user postgres), or set CHATPAY_TEST_PG_URL to \
         postgres://USER@HOST:PORT/DB of a server where USER may create databases"
    )
}

fn start_debian_postgres() -> Result<()> {
    if !std::path::Path::new("/usr/lib/postgresql").exists() {
        sh(Command::new("apt-get").arg("update"))?;
        sh(Command::new("apt-get")
            .args(["install", "-y", "postgresql"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    let versions = std::fs::read_dir("/etc/postgresql")?;
    for v in versions.flatten() {
        let v = v.file_name().to_string_lossy().into_owned();
        let _ = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &v, "main", "start"])
            .status();
    }
    Ok(())
}

fn host_port(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let rest = rest.rsplit('@').next().unwrap_or(rest);
    let hostport = rest.split('/').next().unwrap_or(rest);
    if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:5432")
    }
}

fn answers(addr: &str) -> bool {
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
}
