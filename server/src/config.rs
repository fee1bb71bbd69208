//! The command line and its environment variables.
//!
//! Every option can also be set as `CHATPAY_<NAME>`; `chatpay --help` lists them. With no
//! subcommand, `chatpay` serves.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the widget, the visitor sockets and the webhooks (the default).
    Serve(ServeArgs),
    /// Manage sites: the websites that embed the widget.
    #[command(subcommand)]
    Site(SiteCommand),
}

/// Options of `chatpay serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "CHATPAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The URL visitors and Stripe reach this relay at (default: http://LISTEN).
    #[arg(long, env = "CHATPAY_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// The folder with the built widget (`trunk build --release` writes it).
    #[arg(long, env = "CHATPAY_DIST", default_value = "dist")]
    pub dist: PathBuf,

    /// Create or refresh the `demo` site that the demo page at /demo embeds.
    #[arg(long, env = "CHATPAY_DEMO")]
    pub demo: bool,
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
    },
    /// List the sites.
    List,
}
