//! An issue made ready to mail: rendered once ([`Prepared`]) with the headers every message
//! shares ([`Composer`]), the unsubscribe key and the DKIM signer. Turns a subscriber into the
//! message they receive; every command that makes messages goes through here.

use std::{path::Path, sync::Arc, time::SystemTime};

use crate::{
    compose::dkim::Signer,
    compose::message::{Built, Composer, InlineImage},
    compose::render::{Prepared, Rendered},
    compose::unsubscribe::{KeyUse, TokenKey},
    error::Error,
    input::issue::Issue,
    input::subscribers::Subscriber,
};

#[derive(Debug)]
pub struct Mailing {
    pub prepared: Prepared,
    pub(crate) composer: Composer,
    /// Set when the list asks for DKIM but a preview or check runs without the key.
    pub(crate) unsigned: bool,
}

impl Mailing {
    /// Prepares `issue` for `purpose` with the unsubscribe key the command resolved: a send
    /// needs the real unsubscribe key and, if the list asks for DKIM, the signing key; a preview
    /// or check makes do without them (and says so in [`Mailing::notes`]).
    pub fn prepare(
        issue: &Issue,
        purpose: KeyUse,
        token_key: Option<TokenKey>,
        dkim_key: Option<&Path>,
    ) -> Result<Mailing, Error> {
        let list = &issue.list.file;
        let signer = match (&list.dkim, dkim_key) {
            (Some(settings), Some(path)) => {
                let domain = settings.domain.as_ref().map_or_else(
                    || list.from.address.domain().to_ascii_lowercase(),
                    |domain| domain.as_str().to_owned(),
                );
                Some(Signer::load(path, settings.selector.as_str(), &domain)?)
            }
            (None, Some(path)) => {
                return Err(Error::DkimKey {
                    path: path.to_owned(),
                    reason: format!(
                        "the list file `{}` has no `dkim` section naming the selector",
                        issue.list.path.display()
                    ),
                });
            }
            (Some(_), None) if purpose == KeyUse::Send => {
                return Err(Error::DkimKeyMissing {
                    list: issue.list.path.clone(),
                });
            }
            _ => None,
        };
        let mut mailing = Mailing::build(issue, token_key, signer)?;
        mailing.unsigned = list.dkim.is_some() && mailing.composer.signs().is_none();
        Ok(mailing)
    }

    fn build(
        issue: &Issue,
        token_key: Option<TokenKey>,
        signer: Option<Signer>,
    ) -> Result<Mailing, Error> {
        let prepared = Prepared::new(issue, token_key)?;
        let mut composer = Composer::new(issue, signer.map(Arc::new));
        if issue.list.file.assets_url.is_none() {
            let domain = issue.list.message_id_domain();
            // Only the images the HTML shows: one inside a link that was left out is not.
            let images = issue
                .images
                .files()
                .iter()
                .map(|file| InlineImage::new(file, domain))
                .filter(|image| prepared.html_mentions(&format!("cid:{}", image.content_id())))
                .collect();
            composer = composer.with_inline_images(images);
        }
        Ok(Mailing {
            prepared,
            composer,
            unsigned: false,
        })
    }

    /// Notes for the user about what a preview or check could not do as a send would.
    pub(crate) fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.prepared.uses_throwaway_key() {
            notes.push(format!(
                "{} is not set, so unsubscribe links were made with a throwaway key; `send` needs the real key",
                crate::env::UNSUBSCRIBE_KEY
            ));
        }
        if self.unsigned {
            notes.push(format!(
                "no DKIM key was given (--dkim-key or {}), so messages are not signed; `send` needs the key",
                crate::env::DKIM_KEY_FILE
            ));
        }
        notes
    }

    /// The subject of the message to `subscriber`, its placeholders filled.
    pub fn subject_for(&self, subscriber: &Subscriber) -> String {
        self.prepared.personalise(subscriber).subject
    }

    /// The message to `subscriber`.
    pub(crate) fn message(
        &self,
        subscriber: &Subscriber,
        date: SystemTime,
    ) -> Result<Built, Error> {
        let personal = self.prepared.personalise(subscriber);
        let encoded = self.prepared.encode(&personal);
        self.composer.build(subscriber, &personal, encoded, date)
    }

    /// The message to `subscriber` and, separately, its two parts (for previews and checks).
    pub fn message_and_parts(
        &self,
        subscriber: &Subscriber,
        date: SystemTime,
    ) -> Result<(Built, Rendered), Error> {
        let personal = self.prepared.personalise(subscriber);
        let rendered = self.prepared.render(&personal);
        let encoded = self.prepared.encode(&personal);
        let built = self.composer.build(subscriber, &personal, encoded, date)?;
        Ok((built, rendered))
    }
}
