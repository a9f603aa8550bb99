//! The cleanup page: from the page cache when this caller's page of this
//! second is there, else its shell filled with the caller's own parts.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Response, StatusCode};

use super::{App, render_failed};
use crate::cache::{PageKey, ShellKey};
use crate::facts::Standing;
use crate::respond::{self, Body};
use crate::templates::Shell;
use crate::tools::Listing;

impl App {
    pub(super) async fn cleanup_page(
        &self,
        peer: IpAddr,
        lang: &str,
        os: &'static str,
    ) -> Response<Body> {
        let facts = self.facts(peer).await;
        let tools = self.tools.list(lang).await;
        let second = self.clock.now();
        let now = Instant::now();
        let key = PageKey {
            peer,
            lang: lang.to_owned(),
            os,
        };
        if let Some(body) = self.page_cache.get(&key, second, &facts, &tools, now) {
            return respond::html(StatusCode::OK, body);
        }
        let csrf = facts
            .can_self_release
            .then(|| self.csrf.issue(peer, second));
        let ctx = page_context!(self, lang, {
            facts => facts,
            csrf => csrf,
            tools => &*tools,
            os => os,
        });
        let html = match self.shell(lang, os, facts.standing, &tools) {
            Some(shell) => self.pages.fill(&shell, &ctx),
            None => self.pages.render("cleanup.html", ctx),
        };
        match html {
            Ok(html) => {
                let body = Bytes::from(html);
                self.page_cache
                    .put(key, second, facts, tools, body.clone(), now);
                respond::html(StatusCode::OK, body)
            }
            Err(e) => render_failed("cleanup.html", &e),
        }
    }

    /// The cleanup page's shell for this language, system and standing,
    /// rendered on first use; `None` when the operator's templates replace
    /// part of it, or it did not render (the whole page is then rendered,
    /// and reports what is wrong).
    fn shell(
        &self,
        lang: &str,
        os: &'static str,
        standing: Standing,
        tools: &Listing,
    ) -> Option<Arc<Shell>> {
        let key = ShellKey {
            lang: lang.to_owned(),
            os,
            standing,
        };
        if let Some(shell) = self.shells.get(&key, tools) {
            return Some(shell);
        }
        // Nothing of any one caller's: shown to all who stand the same.
        let ctx = page_context!(self, lang, {
            facts => minijinja::context! { standing => standing },
            tools => &**tools,
            os => os,
        });
        let shell = Arc::new(self.pages.shell("cleanup.html", ctx)?.ok()?);
        self.shells.put(key, Arc::clone(tools), Arc::clone(&shell));
        Some(shell)
    }
}
