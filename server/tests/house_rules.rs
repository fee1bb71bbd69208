//! The house rules (DESIGN, "House rules"; README, "Architecture"): what each room of the
//! relay may not import. Data flows one way — wire → route → engine → store → hub → wire —
//! and a room that reaches back up (the store calling a use case, a use case knowing a
//! route) makes the circles this test keeps out. It reads the sources: a `crate::ROOM` path
//! in code (not in a comment) is an import.

use std::path::{Path, PathBuf};

/// A room (files under a path) and the rooms it may not name.
struct Rule {
    room: &'static str,
    except: &'static [&'static str],
    forbidden: &'static [&'static str],
    why: &'static str,
}

const USE_CASES: &[&str] = &["chat", "agents", "payments", "followups", "sweep"];

const RULES: &[Rule] = &[
    Rule {
        room: "store",
        except: &[],
        forbidden: &[
            "engine",
            "payments",
            "chat",
            "agents",
            "followups",
            "sweep",
            "routes",
            "state",
            "hub",
            "bus",
            "stripe",
        ],
        why: "the store stores what it is given: it knows no use case, workflow step, route or relay state",
    },
    Rule {
        room: "engine",
        except: &[],
        forbidden: &[
            "routes", "state", "hub", "bus", "payments", "chat", "agents", "sweep",
        ],
        why: "the engine knows no HTTP and publishes nothing: it returns effects and followups",
    },
    Rule {
        room: "stripe",
        except: &["stripe/simulator"],
        forbidden: &[
            "routes",
            "state",
            "engine",
            "payments",
            "chat",
            "agents",
            "followups",
            "hub",
        ],
        why: "the Stripe client and signatures know no relay state and no use case",
    },
    Rule {
        room: "stripe/simulator",
        except: &[],
        forbidden: &[
            "routes",
            "state",
            "engine",
            "payments",
            "chat",
            "agents",
            "followups",
        ],
        why: "the simulator stands in for Stripe: it has its own state and knows nothing of the relay's",
    },
    Rule {
        room: "state.rs",
        except: &[],
        forbidden: &["routes"],
        why: "the relay's state knows no route",
    },
    Rule {
        room: "chat.rs",
        except: &[],
        forbidden: &["routes"],
        why: "use cases know no route",
    },
    Rule {
        room: "agents.rs",
        except: &[],
        forbidden: &["routes"],
        why: "use cases know no route",
    },
    Rule {
        room: "payments",
        except: &[],
        forbidden: &["routes"],
        why: "use cases know no route",
    },
    Rule {
        room: "followups.rs",
        except: &[],
        forbidden: &["routes"],
        why: "use cases know no route",
    },
    Rule {
        room: "sweep.rs",
        except: &[],
        forbidden: &["routes"],
        why: "use cases know no route",
    },
];

/// The sources read: the crate's (cargo sets `CARGO_MANIFEST_DIR` when it runs a test; set
/// it by hand to check another checkout).
fn src() -> PathBuf {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    Path::new(&dir).join("src")
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_owned());
        return;
    }
    for entry in std::fs::read_dir(path).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() || p.extension().is_some_and(|e| e == "rs") {
            rust_files(&p, out);
        }
    }
}

/// `crate::NAME` paths in code lines (comments and doc comments left out).
fn named_rooms(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push((n + 1, name));
            }
            rest = after;
        }
    }
    found
}

#[test]
fn no_room_imports_what_the_house_rules_forbid() {
    let root = src();
    let mut broken = Vec::new();
    for rule in RULES {
        let mut files = Vec::new();
        rust_files(&root.join(rule.room), &mut files);
        assert!(
            !files.is_empty(),
            "the room '{}' has no source files: update the rule",
            rule.room
        );
        for file in files {
            let rel = file
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rule.except.iter().any(|e| rel.starts_with(e)) {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            for (line, name) in named_rooms(&text) {
                if rule.forbidden.contains(&name.as_str()) {
                    broken.push(format!(
                        "server/src/{rel}:{line} names crate::{name} ({})",
                        rule.why
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "house rules broken:\n{}", broken.join("\n"));
}

#[test]
fn the_rule_reader_sees_code_and_skips_comments() {
    let text =
        "use crate::routes::x;\n/// see [`crate::state`]\nlet a = crate::hub::Hub::new(); // crate::bus\n";
    let names: Vec<String> = named_rooms(text).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["routes", "hub"]);
    // Every use case is covered by a rule.
    for case in USE_CASES {
        assert!(
            RULES.iter().any(|r| r.room.trim_end_matches(".rs") == *case),
            "no rule for the use case '{case}'"
        );
    }
}
