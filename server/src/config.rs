//! The command line and its environment variables.
//!
//! Every option can also be set as `CHATPAY_<NAME>`; `chatpay --help` lists them. With no
//! subcommand, `chatpay` serves.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// In-chat payments for any website: the relay.
#[derive(Debug, Parser)]
#[command(name = "chatpay", version, about)]
pub struct Cli {
    /// Where chatpay keeps its data: `sqlite://PATH` (created if missing) or
    /// `postgres://USER@HOST:PORT/DB`.
    #[arg(
        long,
        env = "CHATPAY_DATABASE_URL",
        default_value = "sqlite://data/chatpay.db",
        global = true
    )]
    pub database_url: String,

    /// The 32-byte key that encrypts Stripe secrets at rest, as 64 hex digits or base64.
    /// Without it, a key file is used (created on first run).
    #[arg(
        long = "encryption-key",
        env = "CHATPAY_SECRET_KEY",
        global = true,
        hide_env_values = true
    )]
    pub encryption_key: Option<String>,

    /// The key file used when CHATPAY_SECRET_KEY is not set (default: `secret.key` beside
    /// the SQLite database, or `data/secret.key` with PostgreSQL).
    #[arg(long = "encryption-key-file", env = "CHATPAY_SECRET_KEY_FILE", global = true)]
    pub encryption_key_file: Option<PathBuf>,

    /// How log lines are written to stderr: `text` for people, `json` (one object a line, with
    /// the request's id and site in its spans) for log shippers.
    #[arg(long, env = "CHATPAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Stripe's API base URL (default https://api.stripe.com; with --stripe-simulator, this
    /// relay's own simulator).
    #[arg(long, env = "CHATPAY_STRIPE_API_BASE", global = true)]
    pub stripe_api_base: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the widget, the visitor sockets and the webhooks (the default).
    Serve(Box<ServeArgs>),
    /// Manage sites: the websites that embed the widget.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Connect a site to Stripe and check the connection.
    #[command(subcommand)]
    Stripe(StripeCommand),
    /// Check, publish and export bot workflows.
    #[command(subcommand)]
    Workflow(WorkflowCommand),
    /// Manage console accounts (site owners).
    #[command(subcommand)]
    User(UserCommand),
    /// A visitor's conversation: erase it when they ask.
    #[command(subcommand)]
    Conversation(ConversationCommand),
    /// Copy the SQLite database to FILE, consistent even while chatpay serves (PostgreSQL:
    /// use pg_dump). The Stripe secrets in it stay encrypted with the relay's key.
    Backup {
        /// Where the copy goes; must not exist yet.
        file: PathBuf,
    },
}

/// `chatpay conversation …`
#[derive(Debug, Subcommand)]
pub enum ConversationCommand {
    /// Erase a conversation: its transcript, the visitor's name, email and address, the
    /// workflow's saved answers and its payments' descriptions. Amounts, statuses and Stripe
    /// ids stay for the accounts. Cannot be undone.
    Erase {
        #[arg(long)]
        site: String,
        /// The conversation's id (the console shows it).
        #[arg(long)]
        id: String,
    },
    /// Print everything kept about a conversation as JSON (a visitor's data request): the
    /// transcript, the visitor's details, its payments and the workflow's saved answers.
    Export {
        #[arg(long)]
        site: String,
        /// The conversation's id (the console shows it).
        #[arg(long)]
        id: String,
    },
}

/// `chatpay user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a console account. The first account also takes the sites nobody owns yet.
    /// The password is read from `CHATPAY_USER_PASSWORD`, from standard input with
    /// `--password-stdin`, or from a prompt (never from the command line: shell history).
    /// It must be hard to guess (checked with zxcvbn).
    Add {
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// `chatpay workflow …`
#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// Check a workflow file and list every problem.
    Validate { file: PathBuf },
    /// Publish a workflow file as the site's next version (running conversations keep theirs).
    Import {
        #[arg(long)]
        site: String,
        file: PathBuf,
    },
    /// Print the site's latest published workflow as JSON.
    Export {
        #[arg(long)]
        site: String,
    },
}

impl Cli {
    /// Where the key file is: the option, else beside the SQLite file, else `data/`.
    pub fn key_file(&self) -> PathBuf {
        if let Some(f) = &self.encryption_key_file {
            return f.clone();
        }
        if let Some(rest) = self.database_url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//").split('?').next().unwrap_or("");
            if let Some(dir) = std::path::Path::new(path).parent() {
                return dir.join("secret.key");
            }
        }
        PathBuf::from("data/secret.key")
    }
}

/// The real Stripe API.
pub const STRIPE_API: &str = "https://api.stripe.com";

/// Options of `chatpay serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The address to listen on. Port 0 takes a free port; the first line printed, "chatpay is
    /// running at http://…", names it.
    #[arg(long, env = "CHATPAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The URL visitors and Stripe reach this relay at (default: http://LISTEN).
    #[arg(long, env = "CHATPAY_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// The folder with the built web apps: the widget in `widget/`, the console in
    /// `console/` (`cargo xtask run` writes them).
    #[arg(long, env = "CHATPAY_DIST", default_value = "dist")]
    pub dist: PathBuf,

    /// Create or refresh the `demo` site that the demo page at /demo embeds.
    #[arg(long, env = "CHATPAY_DEMO")]
    pub demo: bool,

    /// Serve the built-in Stripe simulator (TEST MODE) at /simulator and, unless
    /// --stripe-api-base says otherwise, use it instead of Stripe.
    #[arg(long, env = "CHATPAY_STRIPE_SIMULATOR")]
    pub stripe_simulator: bool,

    /// The token the simulator's test controls (its clock) need; a fresh one is made and
    /// printed at start when not given.
    #[arg(long, env = "CHATPAY_SIMULATOR_TOKEN", hide_env_values = true)]
    pub simulator_token: Option<String>,

    /// URL prefixes the simulator may deliver webhooks to besides this relay's own webhook
    /// routes (a relay under test running elsewhere).
    #[arg(long, env = "CHATPAY_SIMULATOR_DELIVER_TO", value_delimiter = ',')]
    pub simulator_deliver_to: Vec<String>,

    /// How old a webhook signature may be, in seconds (Stripe's default: 300).
    #[arg(long, env = "CHATPAY_WEBHOOK_TOLERANCE", default_value_t = crate::stripe::signature::DEFAULT_TOLERANCE_SECS)]
    pub webhook_tolerance: i64,

    /// Seconds between sweeps that ask Stripe about payments whose link expired without
    /// word from a webhook, and resume runs a restart interrupted.
    #[arg(long, env = "CHATPAY_SWEEP_EVERY", default_value_t = 60)]
    pub sweep_every: u64,

    /// Hours a replaced webhook signing secret keeps verifying (Stripe's roll keeps the old
    /// one too); "revoke now" in the console ends it sooner.
    #[arg(long, env = "CHATPAY_WEBHOOK_SECRET_GRACE", default_value_t = 24)]
    pub webhook_secret_grace: u64,

    /// Seconds a new connection (or one between requests) has to send a complete request
    /// head; silent and slow ones are closed.
    #[arg(long, env = "CHATPAY_HEAD_TIMEOUT", default_value_t = 10)]
    pub head_timeout: u64,

    /// The longest gap, in seconds, between two pieces of a request body.
    #[arg(long, env = "CHATPAY_BODY_TIMEOUT", default_value_t = 10)]
    pub body_timeout: u64,

    /// The longest a request may take to be answered, in seconds.
    #[arg(long, env = "CHATPAY_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout: u64,

    /// Open connections at most (default: the file-descriptor limit less a tenth, at least
    /// 64 less). At the cap the oldest connection that is not in a request makes room.
    #[arg(long, env = "CHATPAY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Open connections one client address (an IPv6 /64) may hold; trusted proxies are not
    /// counted.
    #[arg(long, env = "CHATPAY_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,

    /// A bearer token that opens `GET /metrics` (Prometheus text) on the main address. Off
    /// when unset; pick at least 16 characters.
    #[arg(long, env = "CHATPAY_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Let sites' outbound webhooks reach private, loopback and link-local addresses and this
    /// relay's own host (a test setup, or a receiver on your own network). Off by default.
    #[arg(long, env = "CHATPAY_OUTBOUND_ALLOW_PRIVATE")]
    pub outbound_allow_private: bool,

    /// A second address that serves only `GET /metrics`, without a token (for a scraper on a
    /// private network), like 10.0.0.5:9464.
    #[arg(long, env = "CHATPAY_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,

    /// Seconds between pings on a visitor socket; a socket that answers nothing for that
    /// long again is closed.
    #[arg(long, env = "CHATPAY_WS_PING_EVERY", default_value_t = 25)]
    pub ws_ping_every: u64,

    /// Reverse proxies whose `X-Forwarded-For` is believed, as addresses or networks
    /// (`10.0.0.0/8`), comma-separated or repeated. None by default: behind a local proxy,
    /// list it, or every visitor counts as 127.0.0.1 for the budgets.
    #[arg(
        long = "trusted-proxy",
        env = "CHATPAY_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,

    /// Where Stripe's webhook deliveries come from, as addresses or networks, comma-separated
    /// (Stripe lists them at https://stripe.com/files/ips/ips_webhooks.json). A badly signed
    /// delivery from them is refused but never gets the address blocked: someone pointing
    /// their own Stripe account at this relay cannot get Stripe's genuine deliveries refused.
    #[arg(
        long = "webhook-source",
        env = "CHATPAY_WEBHOOK_SOURCES",
        value_delimiter = ','
    )]
    pub webhook_sources: Vec<String>,

    /// Budget: new conversations per client address, as BURST/PERIOD (one more every
    /// PERIOD after a burst).
    #[arg(long, env = "CHATPAY_BUDGET_CONVERSATIONS_PER_IP", default_value = "20/30s", value_parser = crate::budgets::Rate::parse)]
    pub budget_conversations_per_ip: crate::budgets::Rate,

    /// Budget: new conversations per site, from everyone together.
    #[arg(long, env = "CHATPAY_BUDGET_CONVERSATIONS_PER_SITE", default_value = "300/100ms", value_parser = crate::budgets::Rate::parse)]
    pub budget_conversations_per_site: crate::budgets::Rate,

    /// Budget: visitor messages per conversation, across all its sockets.
    #[arg(long, env = "CHATPAY_BUDGET_MESSAGES_PER_CONVERSATION", default_value = "8/1s", value_parser = crate::budgets::Rate::parse)]
    pub budget_messages_per_conversation: crate::budgets::Rate,

    /// Budget: visitor messages from one client address, into all its conversations.
    #[arg(long, env = "CHATPAY_BUDGET_MESSAGES_PER_IP", default_value = "30/500ms", value_parser = crate::budgets::Rate::parse)]
    pub budget_messages_per_ip: crate::budgets::Rate,

    /// Budget: payment links (Checkout Sessions) a bot opens per client address.
    #[arg(long, env = "CHATPAY_BUDGET_LINKS_PER_IP", default_value = "10/60s", value_parser = crate::budgets::Rate::parse)]
    pub budget_links_per_ip: crate::budgets::Rate,

    /// Budget: payment links a site's bot opens, for everyone together.
    #[arg(long, env = "CHATPAY_BUDGET_LINKS_PER_SITE", default_value = "20/200ms", value_parser = crate::budgets::Rate::parse)]
    pub budget_links_per_site: crate::budgets::Rate,

    /// Budget: open visitor sockets per client address.
    #[arg(long, env = "CHATPAY_BUDGET_SOCKETS_PER_IP", default_value_t = 50)]
    pub budget_sockets_per_ip: u32,

    /// Budget: webhook deliveries with a bad signature per client address; past it, that
    /// address is refused before its body is read.
    #[arg(long, env = "CHATPAY_BUDGET_WEBHOOK_FAILURES_PER_IP", default_value = "30/10s", value_parser = crate::budgets::Rate::parse)]
    pub budget_webhook_failures_per_ip: crate::budgets::Rate,

    /// Budget: Stripe look-ups made on a visitor's behalf (the Checkout return page, a
    /// rejoining visitor) for one payment.
    #[arg(long, env = "CHATPAY_BUDGET_LOOKUPS_PER_PAYMENT", default_value = "1/5s", value_parser = crate::budgets::Rate::parse)]
    pub budget_lookups_per_payment: crate::budgets::Rate,

    /// Budget: the same look-ups for all of a site's payments together.
    #[arg(long, env = "CHATPAY_BUDGET_LOOKUPS_PER_SITE", default_value = "20/200ms", value_parser = crate::budgets::Rate::parse)]
    pub budget_lookups_per_site: crate::budgets::Rate,

    /// Budget: writes to the Stripe simulator (when it runs) per client address.
    #[arg(long, env = "CHATPAY_BUDGET_SIMULATOR_WRITES_PER_IP", default_value = "100/40ms", value_parser = crate::budgets::Rate::parse)]
    pub budget_simulator_writes_per_ip: crate::budgets::Rate,

    /// The longest one try of a Stripe call may take, in seconds.
    #[arg(long, env = "CHATPAY_STRIPE_TIMEOUT", default_value_t = 10)]
    pub stripe_timeout: u64,

    /// The longest a whole Stripe call may take, retries included, in seconds (at most 90:
    /// payment links carry a 120 s margin over Stripe's 30-minute minimum for it).
    #[arg(long, env = "CHATPAY_STRIPE_BUDGET", default_value_t = 25)]
    pub stripe_budget: u64,

    /// TEST HOOK: make database writes fail on purpose, like `disk_full=0.02,kill=0.01`
    /// (probabilities per transaction and per statement; `seed=N` repeats a run). Only for
    /// chatpay's own fault-injection tests; never set it in production.
    #[arg(long, env = "CHATPAY_INJECT_FAULTS", hide = true)]
    pub inject_faults: Option<String>,
}

impl ServeArgs {
    /// The options `chatpay` uses when no subcommand is given: defaults and `CHATPAY_*`.
    pub fn from_env() -> Result<ServeArgs, clap::Error> {
        use clap::FromArgMatches;
        let cmd = ServeArgs::augment_args(clap::Command::new("serve"));
        ServeArgs::from_arg_matches(&cmd.try_get_matches_from(["serve"])?)
    }

    /// The public base URL without a trailing slash.
    pub fn public_base(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

/// `chatpay site …`
#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Add a site.
    Add {
        /// Short id used in the script tag's `data-site`: lowercase letters, digits and '-'.
        #[arg(long)]
        id: String,
        /// The name visitors see in the chat header.
        #[arg(long)]
        name: String,
        /// A web origin allowed to embed the widget, like https://shop.example (repeatable).
        #[arg(long = "origin", required = true)]
        origins: Vec<String>,
        /// The first message a new visitor sees.
        #[arg(long, default_value = "Hi! How can we help?")]
        greeting: String,
        /// The console account (its email) the site belongs to. Not needed before the
        /// first account (it takes the sites there are) or while there is only one.
        #[arg(long)]
        owner: Option<String>,
    },
    /// Give a site to a console account (the one that sees it in the console).
    Give {
        /// The site's id.
        #[arg(long)]
        id: String,
        /// The account's email.
        #[arg(long)]
        owner: String,
    },
    /// List the sites.
    List,
    /// Erase a site's conversations nobody touched for DAYS days (the sweep does it, a few
    /// at a time), or keep them (`--keep`, the default).
    Retention {
        /// The site's id.
        #[arg(long)]
        id: String,
        /// 1-3650 days.
        #[arg(long, required_unless_present = "keep", conflicts_with = "keep")]
        days: Option<i64>,
        /// Keep conversations however old.
        #[arg(long)]
        keep: bool,
    },
}

/// `chatpay stripe …`
#[derive(Debug, Subcommand)]
pub enum StripeCommand {
    /// Save a site's Stripe secret key (tested first) and webhook signing secret. Both are
    /// read from `CHATPAY_STRIPE_SECRET_KEY` and `CHATPAY_STRIPE_WEBHOOK_SECRET` (current
    /// first, comma-separated while rotating), from standard input with `--secrets-stdin`
    /// (the key on the first line, the webhook secret on the second, which may be empty),
    /// or from prompts — never from the command line.
    Connect {
        #[arg(long)]
        site: String,
        /// Read the secrets from standard input, one per line.
        #[arg(long)]
        secrets_stdin: bool,
    },
    /// Show a site's Stripe mode, masked key and webhook health.
    Status {
        #[arg(long)]
        site: String,
    },
}
