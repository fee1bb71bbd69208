//! Pages as hash routes, so a reload or a shared link opens the same page.

/// A console page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Login,
    Setup(String),
    Sites,
    Site(String),
    /// The Stripe wizard at a step (1-4).
    Stripe(String, u8),
    Troubleshoot(String),
    Workflows(String),
    /// The inbox, with a conversation open.
    Inbox(String, Option<String>),
    Payments(String),
}

impl Route {
    /// Reads `#/…`.
    pub fn parse(hash: &str) -> Route {
        let path = hash.trim_start_matches('#').trim_start_matches('/');
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        match parts.as_slice() {
            ["login"] => Route::Login,
            ["setup", token] => Route::Setup((*token).to_owned()),
            ["sites", id] => Route::Site((*id).to_owned()),
            ["sites", id, "stripe"] => Route::Stripe((*id).to_owned(), 1),
            ["sites", id, "stripe", step] => {
                Route::Stripe((*id).to_owned(), step.parse().unwrap_or(1).clamp(1, 4))
            }
            ["sites", id, "troubleshoot"] => Route::Troubleshoot((*id).to_owned()),
            ["sites", id, "workflows"] => Route::Workflows((*id).to_owned()),
            ["sites", id, "inbox"] => Route::Inbox((*id).to_owned(), None),
            ["sites", id, "inbox", conv] => Route::Inbox((*id).to_owned(), Some((*conv).to_owned())),
            ["sites", id, "payments"] => Route::Payments((*id).to_owned()),
            _ => Route::Sites,
        }
    }

    /// `#/…` for this page.
    pub fn hash(&self) -> String {
        match self {
            Route::Login => "#/login".into(),
            Route::Setup(t) => format!("#/setup/{t}"),
            Route::Sites => "#/".into(),
            Route::Site(id) => format!("#/sites/{id}"),
            Route::Stripe(id, step) => format!("#/sites/{id}/stripe/{step}"),
            Route::Troubleshoot(id) => format!("#/sites/{id}/troubleshoot"),
            Route::Workflows(id) => format!("#/sites/{id}/workflows"),
            Route::Inbox(id, None) => format!("#/sites/{id}/inbox"),
            Route::Inbox(id, Some(c)) => format!("#/sites/{id}/inbox/{c}"),
            Route::Payments(id) => format!("#/sites/{id}/payments"),
        }
    }

    /// The site this page is about.
    pub fn site(&self) -> Option<&str> {
        match self {
            Route::Site(id)
            | Route::Stripe(id, _)
            | Route::Troubleshoot(id)
            | Route::Workflows(id)
            | Route::Inbox(id, _)
            | Route::Payments(id) => Some(id),
            _ => None,
        }
    }
}

/// Opens a page.
pub fn go(route: &Route) {
    if let Some(w) = web_sys::window() {
        let _ = w.location().set_hash(&route.hash());
    }
}

/// The page the address bar shows now.
pub fn current() -> Route {
    web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .map(|h| Route::parse(&h))
        .unwrap_or(Route::Sites)
}
