//! A visitor's socket speaking the shared protocol, as a test sees it.

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use chatpay_shared::protocol::{ClientFrame, ServerFrame};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

pub struct Visitor {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Visitor {
    /// Opens `/ws?site=…` with `origin` and says Hello; returns the socket and Welcome.
    pub async fn connect(
        base: &str,
        site: &str,
        origin: &str,
        token: Option<&str>,
        last_seq: Option<u64>,
    ) -> Result<(Visitor, ServerFrame)> {
        let url = format!("{}/ws?site={site}", base.replacen("http", "ws", 1));
        let mut req = url.into_client_request()?;
        req.headers_mut().insert("origin", origin.parse()?);
        let (ws, _) = tokio_tungstenite::connect_async(req).await.context("socket")?;
        let mut v = Visitor { ws };
        v.send(&ClientFrame::Hello {
            site: site.into(),
            visitor_token: token.map(str::to_owned),
            last_seq,
            lang: None,
        })
        .await?;
        let welcome = v.recv(Duration::from_secs(10)).await?.context("no Welcome")?;
        Ok((v, welcome))
    }

    /// Like [`Visitor::connect`], from the local address `from` (another client, as far
    /// as the relay can tell: loopback has all of 127.0.0.0/8).
    pub async fn connect_from(
        base: &str,
        site: &str,
        origin: &str,
        token: Option<&str>,
        from: std::net::IpAddr,
    ) -> Result<(Visitor, ServerFrame)> {
        let url = format!("{}/ws?site={site}", base.replacen("http", "ws", 1));
        let mut req = url.into_client_request()?;
        req.headers_mut().insert("origin", origin.parse()?);
        let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse()?;
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(std::net::SocketAddr::new(from, 0))?;
        let stream = socket.connect(addr).await?;
        let (ws, _) = tokio_tungstenite::client_async(req, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await
            .context("socket")?;
        let mut v = Visitor { ws };
        v.send(&ClientFrame::Hello {
            site: site.into(),
            visitor_token: token.map(str::to_owned),
            last_seq: None,
            lang: None,
        })
        .await?;
        let welcome = v.recv(Duration::from_secs(10)).await?.context("no Welcome")?;
        Ok((v, welcome))
    }

    pub async fn send(&mut self, frame: &ClientFrame) -> Result<()> {
        self.ws.send(Message::text(serde_json::to_string(frame)?)).await?;
        Ok(())
    }

    /// The next frame within `wait`; `None` on timeout or close.
    pub async fn recv(&mut self, wait: Duration) -> Result<Option<ServerFrame>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let Ok(next) = tokio::time::timeout_at(deadline, self.ws.next()).await else {
                return Ok(None);
            };
            match next {
                Some(Ok(Message::Text(t))) => return Ok(Some(serde_json::from_str(t.as_str())?)),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(None),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Frames until one satisfies `last` (included), within 15 s.
    pub async fn until(&mut self, last: impl Fn(&ServerFrame) -> bool) -> Result<Vec<ServerFrame>> {
        let mut got = Vec::new();
        loop {
            match self.recv(Duration::from_secs(15)).await? {
                Some(f) => {
                    let done = last(&f);
                    got.push(f);
                    if done {
                        return Ok(got);
                    }
                }
                None => bail!("the expected frame never came; got {got:#?}"),
            }
        }
    }

    /// Everything that arrives within `quiet`.
    pub async fn drain(&mut self, quiet: Duration) -> Result<Vec<ServerFrame>> {
        let mut got = Vec::new();
        while let Some(f) = self.recv(quiet).await? {
            got.push(f);
        }
        Ok(got)
    }
}

/// A new visitor at the payment card of the demo workflow: the socket, what the relay said on
/// the way, and the ids a test needs next.
pub struct AtTheCard {
    pub visitor: Visitor,
    pub token: String,
    pub conversation: String,
    pub payment: String,
    /// The card's Checkout link.
    pub url: String,
    /// Every frame from the Welcome's on, the card last.
    pub frames: Vec<ServerFrame>,
}

/// Opens `site`'s chat as a new visitor, answers the demo workflow's question with `need`
/// and waits for the payment card.
pub async fn demo_to_the_card(base: &str, site: &str, origin: &str, need: &str) -> Result<AtTheCard> {
    let (mut visitor, welcome) = Visitor::connect(base, site, origin, None, None).await?;
    let ServerFrame::Welcome {
        visitor_token,
        conversation,
        ..
    } = welcome
    else {
        bail!("no Welcome but {welcome:?}")
    };
    visitor
        .until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("What do you need")))
        .await?;
    visitor
        .send(&ClientFrame::Text {
            client_id: "need".into(),
            text: need.into(),
        })
        .await?;
    let frames = visitor
        .until(|f| matches!(f, ServerFrame::PaymentCard { .. }))
        .await?;
    let Some(ServerFrame::PaymentCard { payment, url, .. }) = frames.last().cloned() else {
        bail!("no payment card in {frames:?}")
    };
    Ok(AtTheCard {
        visitor,
        token: visitor_token,
        conversation,
        payment,
        url,
        frames,
    })
}
